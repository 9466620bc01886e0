"""TCP on a fake link (no ``Lab``): the kernel layer's sockets need only a network namespace
(``devmem_lab/kernel/netns.py``: kernel, NIC, addresses) and the :class:`Link` protocol, as
``docs/architecture.md`` says. The fake here has no serialisation (a frame arrives
``delay_ns`` after it is sent), a FIFO event list of its own and a log of every frame, so
what TCP puts on the wire and when data arrives are exact numbers."""

import bisect
import random
import socket

from devmem_lab.kernel.netns import NetNamespace
from devmem_lab.kernel.nic.device import NetDevice
from devmem_lab.kernel.state import KERNELS, Kernel
from devmem_lab.kernel.tcp import make_socket

HDRS = 14 + 40 + 32  # Ethernet, IPv6, TCP with timestamps
MSS = 1500 - 40 - 32


class FakeLink:
    """A :class:`devmem_lab.kernel.netns.Link`: clock, events, and a wire that only delays."""

    def __init__(self, delay_ns: int) -> None:
        self.now_ns, self.delay_ns, self.wakeup_ns = 0, delay_ns, 0
        self.rng = random.Random(0)
        self.frames: list[tuple[int, str, int, int, int]] = []  # (t, src, size, count, last)
        self.spaces: dict[str, NetNamespace] = {}
        self._events: list[tuple[int, int, object]] = []
        self._n = 0

    def schedule(self, delay_ns, fn):
        self.schedule_at(self.now_ns + max(0, int(delay_ns)), fn)

    def schedule_at(self, t_ns, fn):
        self._n += 1
        bisect.insort(self._events, (max(t_ns, self.now_ns), self._n, fn), key=lambda e: e[:2])

    def wire(self, src, frame_bytes):
        return self.wire_run(src, frame_bytes, 0, frame_bytes)

    def wire_run(self, src, frame_bytes, count, last_bytes):
        self.frames.append((self.now_ns, src.name, frame_bytes, count, last_bytes))
        return self.now_ns + self.delay_ns

    def _step(self):
        t, _, fn = self._events.pop(0)
        self.now_ns = max(self.now_ns, t)
        fn()

    def run(self, seconds):
        end = self.now_ns + int(seconds * 1e9)
        while self._events and self._events[0][0] <= end:
            self._step()
        self.now_ns = max(self.now_ns, end)

    def run_until(self, predicate, deadline_ns=None):
        while not predicate():
            if not self._events or (deadline_ns is not None and self._events[0][0] > deadline_ns):
                if deadline_ns is not None:
                    self.now_ns = max(self.now_ns, deadline_ns)
                return False
            self._step()
        return True

    def netns_by_address(self, address):
        return self.spaces.get(address)


def namespace(link, name, address, address4):
    kernel = Kernel(KERNELS["6.18"])
    nic = NetDevice(kernel, "eth1", 2, mtu=1500)
    kernel.devices = {1: NetDevice(kernel, "lo", 1, kind="loopback", mtu=65536), 2: nic}
    ns = NetNamespace(name, kernel, nic, address, address4, link)
    link.spaces[address] = link.spaces[address4] = ns
    return ns


def pair(delay_ns):
    link = FakeLink(delay_ns)
    srv = namespace(link, "server", "2001:db8::1", "192.0.2.1")
    cli = namespace(link, "client", "2001:db8::2", "192.0.2.2")
    ls = make_socket(srv, socket.AF_INET6, socket.SOCK_STREAM)
    ls.bind(("::", 80))
    ls.listen()
    cs = make_socket(cli, socket.AF_INET6, socket.SOCK_STREAM)
    cs.connect(("2001:db8::1", 80))
    conn, addr = ls.accept()
    return link, srv, cs, conn, addr


def test_segments_on_the_wire_and_arrival_time():
    link, srv, cs, conn, addr = pair(delay_ns=1000)
    assert addr[:2] == ("2001:db8::2", 60438)  # ephemeral port from the link's rng (seed 0)
    assert link.frames == [] and link.now_ns == 0  # the handshake sends no data frames
    cs.sendall(b"x" * 5000)
    # three full segments and a last one of 5000 - 3 * 1428 = 716 bytes, sent at t=0
    assert link.frames == [(0, "client", MSS + HDRS, 3, 716 + HDRS)]
    assert conn.recv(10_000) == b"x" * 5000 and link.now_ns == 1000  # one delay later
    assert sum(q.stats.packets for q in srv.nic.rx_queues) == 4
    assert link.run_until(lambda: cs.snd_una == 5000) and link.now_ns == 2000  # the ACK
    cs.close()
    assert conn.recv(10) == b"" and link.frames[-1] == (2000, "client", HDRS, 0, HDRS)  # FIN


def test_the_receive_window_is_the_only_brake():
    """1 MiB, nothing lost: the sender is held only by the receiver's window. The first flight
    is the SYN-ACK's 10 segments; each later flight leaves when the reader's ACK is back (one
    round trip), larger each time as autotuning grows ``sk_rcvbuf`` after reads (up to
    ``tcp_rmem[2]``, 32 MiB on 6.18), so the data arrives in four parts at 1, 3, 5 and 7
    one-way delays."""
    link, _srv, cs, conn, _ = pair(delay_ns=50_000)
    data = bytes(range(256)) * 4096
    cs.sendall(data)
    got, arrivals = b"", []
    while len(got) < len(data):
        got += conn.recv(1 << 20)
        arrivals.append((link.now_ns, len(got)))
    assert got == data and cs.retransmits == 0
    assert arrivals == [(50_000, 10 * MSS), (150_000, 27 * MSS), (250_000, 265 * MSS),
                        (350_000, 1 << 20)]
    sent = [(t, n, last) for t, _, _, n, last in link.frames]
    assert sent[:2] == [(0, 9, MSS + HDRS), (100_000, 16, MSS + HDRS)]  # runs of n + 1 frames
    assert sum(n + 1 for _, n, _ in sent) == -(-(1 << 20) // MSS)  # every segment sent once
    assert conn.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 32 << 20  # tcp_rmem[2]
