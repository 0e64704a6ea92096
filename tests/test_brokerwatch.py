"""The broker watch's decision (ops/cluster/brokerwatch.py) from the node's answers: restart
a node only when it stayed down with a majority in sight for the whole grace period — never
a node that runs, nor one paused in a minority, as `pause_minority` means it to be. The
watch acting on a real cluster is tests/cluster/test_broker_cut.py's second test."""

from __future__ import annotations

from ops.cluster.brokerwatch import Look, Watch, parse

STOPPED_IN_SIGHT = Look(running=False, seen=2, members=3)


def test_the_nodes_answer_is_read_from_its_first_line() -> None:
    assert parse("false 2 3\nok\n") == STOPPED_IN_SIGHT
    assert parse("true 3 3\nok\n") == Look(True, 3, 3)
    assert parse("Error: unable to perform an operation on node\n") is None
    assert parse("") is None


def test_a_majority_is_more_than_half_of_the_cluster() -> None:
    assert Look(False, 2, 3).majority
    assert not Look(False, 1, 3).majority
    assert not Look(False, 2, 4).majority


def test_a_node_down_with_a_majority_in_sight_is_restarted_after_the_grace() -> None:
    watch = Watch(grace=30)
    assert not watch.due(STOPPED_IN_SIGHT, 100.0)
    assert not watch.due(STOPPED_IN_SIGHT, 129.0)
    assert watch.due(STOPPED_IN_SIGHT, 130.0)
    # Restarted: the clock begins again, a node that stays down waits a grace more.
    assert not watch.due(STOPPED_IN_SIGHT, 131.0)
    assert watch.due(STOPPED_IN_SIGHT, 161.0)


def test_a_node_paused_in_a_minority_is_left_alone() -> None:
    watch = Watch(grace=30)
    paused = Look(running=False, seen=1, members=3)
    assert not any(watch.due(paused, t) for t in range(0, 600, 2))


def test_any_look_that_is_not_stuck_restarts_the_grace() -> None:
    for interruption in (None, Look(True, 3, 3), Look(False, 1, 3)):
        watch = Watch(grace=30)
        assert not watch.due(STOPPED_IN_SIGHT, 0.0)
        assert not watch.due(interruption, 20.0)
        assert not watch.due(STOPPED_IN_SIGHT, 25.0)
        assert not watch.due(STOPPED_IN_SIGHT, 50.0)  # 25 s in sight, not 50
        assert watch.due(STOPPED_IN_SIGHT, 55.0)
