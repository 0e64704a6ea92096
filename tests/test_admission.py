"""Admission control: the bound holds, a refusal has no side effect on the count, and a
request that fails still leaves."""

from __future__ import annotations

import pytest

from engine.admission import Admission
from engine.errors import Unavailable


def test_the_bound_holds_and_frees_as_requests_leave() -> None:
    gate = Admission(2)
    with gate.admitted(), gate.admitted():
        with pytest.raises(Unavailable) as refused:
            with gate.admitted():
                pass
        assert refused.value.retry_after >= 1 and gate.in_flight == 2
    assert gate.in_flight == 0
    with pytest.raises(RuntimeError), gate.admitted():
        raise RuntimeError("the request failed")
    assert gate.in_flight == 0
