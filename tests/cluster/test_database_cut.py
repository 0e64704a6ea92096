"""The PostgreSQL host cut off for 5 s mid-surge: the workers cannot commit and the gateways
cannot read, so clients meet 503s (resent with the same key) and the broker redelivers what
the workers could not settle; healed, every process carries on with the same connections or
new ones, and nothing is decided twice; the verdict is clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.cluster import rejoined, surge_with_a_timed_cut

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.mark.timeout(600)  # the first cluster test also pays for `cluster up`
async def test_the_database_cut_for_5_s_mid_surge_decides_nothing_twice(cluster: Path) -> None:
    r = await surge_with_a_timed_cut(cluster, "pg", 5)
    print(f"answers {r['statuses']}, resent by gateway {r['resent_to']}")
    await rejoined(cluster)
