"""The broker watch's decision (ops/cluster/brokerwatch.py) from the node's answers: restart
a node only when it stayed down with a majority in sight for the whole grace period — never
a node that runs, nor one paused in a minority, as `pause_minority` means it to be — or
when its port takes connections and answers none (wedged) for as long. The watch acting on
a real cluster is tests/cluster/test_broker_cut.py's last two tests."""

from __future__ import annotations

import socket
import threading

from ops.cluster.brokerwatch import Look, Port, Watch, handshake, parse

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


def test_a_node_wedged_is_restarted_after_the_grace_of_silence() -> None:
    watch = Watch(grace=30)
    assert not watch.stuck(0.0)
    assert not watch.stuck(29.0)
    assert watch.stuck(30.0)
    assert not watch.stuck(31.0)  # the clock begins again after the restart
    watch.reset()  # it answered
    assert not watch.stuck(100.0) and not watch.stuck(129.0)


def test_the_handshake_tells_a_serving_port_from_a_closed_and_a_wedged_one() -> None:
    with socket.socket() as wedged:  # listens, and never accepts: the kernel completes
        wedged.bind(("127.0.0.1", 0))  # connections into its backlog, nobody answers
        wedged.listen(8)
        host, port = wedged.getsockname()
        assert handshake(host, port, timeout=0.2) is Port.SILENT
    # Closed now: nothing listens on the port.
    assert handshake(host, port, timeout=0.2) is Port.CLOSED

    with socket.socket() as broker:
        broker.bind(("127.0.0.1", 0))
        broker.listen(8)
        host, port = broker.getsockname()
        heard: list[bytes] = []

        def serve(answer: bytes) -> None:
            conn, _ = broker.accept()
            with conn:
                heard.append(conn.recv(8))
                conn.sendall(answer)

        for answer, expected in ((b"\x01\x00\x00\x00\x00\x01\xf0\x00", Port.ANSWERS),
                                 (b"", Port.CLOSED)):  # took it, closed it unanswered
            server = threading.Thread(target=serve, args=(answer,))
            server.start()
            assert handshake(host, port, timeout=5) is expected
            server.join()
        assert heard == [b"AMQP\x00\x00\x09\x01"] * 2
