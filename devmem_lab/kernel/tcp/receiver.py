"""The receiving half of a TCP connection (softirq side): queues, ACKs, FIN and RST.

Models ``net/ipv4/tcp_input.c``: ``tcp_data_queue`` (an in-order segment joins the receive
queue, then whatever of the out-of-order queue it makes contiguous), ``tcp_data_queue_ofo``
(a segment past a hole waits in the out-of-order queue, its skb keeping its net_iovs),
``tcp_send_ack`` with SACK blocks (``tcp_sack_new_ofo_skb``), ``tcp_fin``, ``tcp_reset`` and
the abort on data after close (``tcp_rcv_state_process``: TCPABORTONDATA). A NAPI poll's
segments arrive together and get one ACK. Differs from the kernel: every SACK block is
reported (the kernel sends at most 3-4); duplicates are dropped whole.
"""

from __future__ import annotations

import errno
from collections import deque
from functools import partial

from ..nic.device import FlowKey
from ..nic.rx import Skb, receive_burst

__all__ = ["DEFAULT_RCVBUF", "TcpReceiver"]

DEFAULT_RCVBUF = 512 << 10  # where autotuning settles for this link's BDP; window = rcvbuf


class TcpReceiver:
    """The receiver's state and functions, mixed into :class:`~.socket.TcpSocket`."""

    def _init_receiver(self) -> None:
        self._rq: deque[Skb] = deque()  # the receive queue, in order
        self._rq_off = 0  # bytes of the first queued skb already read
        self._rq_bytes = 0
        self.rcv_nxt = 0
        self._fin_rcvd = False
        self._rd_shut = False  # sk_shutdown & RCV_SHUTDOWN
        self._flow_in: FlowKey | None = None
        self._ooo: dict[int, Skb] = {}  # out-of-order queue, by sequence number
        self._ooo_bytes = 0
        self._adv_rwnd = DEFAULT_RCVBUF  # the window in the last ACK sent

    def _rwnd(self) -> int:
        return max(0, self.rcvbuf - self._rq_bytes - self._ooo_bytes)

    def _eof(self) -> bool:
        """Reads end here: FIN received, or ``shutdown(SHUT_RD)`` (RCV_SHUTDOWN)."""
        return self._fin_rcvd or self._rd_shut

    def _more_than(self, queued: int) -> bool:
        """Something new to read: more skbs than ``queued``, a FIN or an error."""
        return len(self._rq) > queued or self._eof() or bool(self._err)

    def _sack_blocks(self) -> tuple:
        """Merged ranges held in the out-of-order queue; stale or overlapping entries go."""
        blocks: list[list[int]] = []
        for seq in sorted(self._ooo):
            skb = self._ooo[seq]
            if seq < self.rcv_nxt or (blocks and seq < blocks[-1][1]):
                del self._ooo[seq]
                self._ooo_bytes -= skb.length
                skb.free()
            elif blocks and seq == blocks[-1][1]:
                blocks[-1][1] += skb.length
            else:
                blocks.append([seq, seq + skb.length])
        return tuple((a, b) for a, b in blocks)

    def _send_ack(self) -> None:
        peer = self.peer
        if peer is not None:
            sack = self._sack_blocks() if self._ooo else ()
            self._adv_rwnd = self._rwnd()
            self.netns.link.schedule(self.netns.link.delay_ns,
                                     partial(peer._on_ack, self.rcv_nxt, self._adv_rwnd, sack))

    def _on_burst(self, runs: list[tuple]) -> None:
        """One NAPI poll: the NIC places the segments, TCP queues them in order or out of order
        (holding their net_iovs until the hole is filled), then one ACK with SACK blocks."""
        if self._closed or (self._rd_shut and self._fin_sent):
            self._abort_on_data(runs)
            return
        ooo = self._ooo
        for skb in receive_burst(self.route_dev or self.netns.nic, self._flow_in, runs):
            if skb.seq == self.rcv_nxt and not ooo and not self._closed \
                    and not self._fin_rcvd:  # the common case: in order, nothing pending
                self._append_in_order(skb)
                continue
            for seg in skb.segments():
                self._queue_segment(seg)
        self._send_ack()

    def _queue_segment(self, skb: Skb) -> None:
        ooo = self._ooo
        seq = skb.seq
        if self._closed or self._fin_rcvd or seq < self.rcv_nxt or seq in ooo:
            skb.free()  # duplicate (or nobody left to read it)
        elif seq > self.rcv_nxt:
            ooo[seq] = skb
            self._ooo_bytes += skb.length
        else:
            self._append_in_order(skb)
            while self.rcv_nxt in ooo:  # the hole is filled: the queued run follows
                nxt = ooo.pop(self.rcv_nxt)
                self._ooo_bytes -= nxt.length
                self._append_in_order(nxt)

    def _append_in_order(self, skb: Skb) -> None:
        self._rq.append(skb)
        self._rq_bytes += skb.length
        self.rcv_nxt += skb.length

    def _maybe_done(self) -> None:
        """Both FINs exchanged and ours acked (LAST_ACK acked, or FIN_WAIT2/CLOSING into
        TIME_WAIT, whose socket is ``tcp_done``): the socket is CLOSE, shutdown is ENOTCONN."""
        if self._fin_sent and self._fin_rcvd and self.snd_una > self.write_seq:
            self.state = "CLOSE"

    def _on_fin(self, seq: int) -> None:
        if seq == self.rcv_nxt and not self._fin_rcvd:
            self._fin_rcvd = True
            self.rcv_nxt += 1
            if self.state == "ESTABLISHED":
                self.state = "CLOSE_WAIT"
            self._maybe_done()
        self._send_ack()

    def _abort_on_data(self, runs: list[tuple]) -> None:
        """New data for a socket that can no longer read it (closed, or FIN_WAIT after
        ``shutdown(SHUT_RD)``): the packets are dropped and both ends reset
        (``tcp_rcv_state_process``: TCPABORTONDATA, then ``tcp_v4_send_reset``)."""
        for skb in receive_burst(self.netns.nic, self._flow_in, runs):
            skb.free()
        if self.peer is not None and self.state != "CLOSE":
            if not self._closed:
                self._on_reset()
            self.netns.link.schedule(self.netns.link.delay_ns, self.peer._on_reset)
            self.state = "CLOSE"

    def _on_reset(self) -> None:
        # tcp_reset: EPIPE in CLOSE_WAIT (the peer had already sent its FIN), else ECONNRESET
        self._err = errno.EPIPE if self.state == "CLOSE_WAIT" else errno.ECONNRESET
        self.state = "CLOSE"
        self._timer_gen += 1
        if self._zc is not None:  # tcp_reset: tcp_write_queue_purge frees the send queue
            self._zc.purge()
