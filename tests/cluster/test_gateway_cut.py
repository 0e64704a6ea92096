"""A gateway host cut off mid-surge, with its clients' requests in flight: they get no
answer, and each is resent — same Idempotency-Key — at the other gateway, which answers it
(the booking the first attempt may already have made, never a second one); healed, the
gateway takes traffic again on its own; the verdict is clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.cluster import rejoined, surge_with_a_timed_cut

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

#: How long the gateway stays cut: longer than a client's attempt timeout (10 s, in
#: ops/surge/failover.py), so every request it held is given up on and resent.
CUT_SECONDS = 12


@pytest.mark.timeout(600)  # the first cluster test also pays for `cluster up`
async def test_a_gateway_cut_mid_surge_hands_its_clients_to_the_other(cluster: Path) -> None:
    r = await surge_with_a_timed_cut(cluster, "gw2", CUT_SECONDS)
    # gw2's clients went to gw1 (gateway 0) and were answered there.
    print(f"resent, by the gateway they went to: {r['resent_to']}")
    assert r["resent_to"].get("0", 0) > 0
    await rejoined(cluster)
