"""The lab's virtual clock and event queue (``devmem_lab/lab.py``, the ``Link`` TCP runs on):
events due at the same nanosecond run in the order they were scheduled, one scheduled for
the past runs now after those already due, and a callback that runs the clock again is
refused with ``RuntimeError`` (the lab stays usable)."""

import socket

import pytest

from devmem_lab import Lab


def test_equal_times_run_first_in_first_out():
    lab = Lab(seed=0)
    order = []
    lab.schedule(10, lambda: order.append("a"))
    lab.schedule_at(10, lambda: order.append("b"))
    lab.schedule(5, lambda: order.append("c"))
    lab.schedule(10, lambda: order.append("d"))
    lab.run(10e-9)
    assert order == ["c", "a", "b", "d"] and lab.now_ns == 10


def test_zero_delay_and_the_past_queue_behind_what_is_due():
    lab = Lab(seed=0)
    order = []

    def first():
        order.append(("first", lab.now_ns))
        lab.schedule(0, lambda: order.append(("zero", lab.now_ns)))
        lab.schedule_at(3, lambda: order.append(("past", lab.now_ns)))  # clamped to now

    lab.schedule(7, first)
    lab.schedule(7, lambda: order.append(("second", lab.now_ns)))
    lab.schedule(8, lambda: order.append(("later", lab.now_ns)))
    lab.run(1e-6)
    assert order == [("first", 7), ("second", 7), ("zero", 7), ("past", 7), ("later", 8)]
    assert lab.now_ns == 1000


def test_run_ends_exactly_at_its_span():
    lab = Lab(seed=0)
    seen = []
    lab.schedule(1000, lambda: seen.append(lab.now_ns))
    lab.schedule(1001, lambda: seen.append(lab.now_ns))
    lab.run(1e-6)
    assert seen == [1000] and lab.now_ns == 1000
    assert lab.run_until(lambda: len(seen) == 2) and seen == [1000, 1001]
    assert lab.step() is False


@pytest.mark.parametrize("reenter", [
    lambda lab: lab.run(1e-6),
    lambda lab: lab.run_until(lambda: False),
    lambda lab: lab.step(),
])
def test_reentrant_run_is_refused(reenter):
    lab = Lab(seed=0)
    after = []
    lab.schedule(5, lambda: reenter(lab))
    lab.schedule(6, lambda: after.append(lab.now_ns))
    with pytest.raises(RuntimeError, match="from inside an event callback"):
        lab.run(1e-6)
    assert lab.now_ns == 5 and after == []
    lab.run(1e-6)  # the guard is lifted once the callback has failed
    assert after == [6]


def test_blocking_read_inside_a_callback_is_refused():
    lab = Lab(seed=0)
    ls = lab.server.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.bind(("::", 5201))
    ls.listen()
    cs = lab.client.socket(socket.AF_INET6, socket.SOCK_STREAM)
    cs.connect((lab.server.address, 5201))
    conn, _ = ls.accept()
    errors = []

    def reader():
        try:
            conn.recv(10)  # nothing queued: it would have to run the clock
        except RuntimeError as e:
            errors.append(str(e))

    lab.schedule(1, reader)
    lab.run(1e-3)
    assert len(errors) == 1 and "blocking read" in errors[0]
    cs.sendall(b"ok")
    assert conn.recv(10) == b"ok"
