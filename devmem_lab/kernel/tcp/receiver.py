"""The receiving half of a TCP connection (softirq side): queues, ACKs, FIN and RST.

Models ``net/ipv4/tcp_input.c``: ``tcp_data_queue`` (an in-order segment joins the receive
queue, then whatever of the out-of-order queue it makes contiguous), ``tcp_data_queue_ofo``
(a segment past a hole waits in the out-of-order queue, its skb keeping its net_iovs),
``tcp_send_ack`` with SACK blocks (``tcp_sack_new_ofo_skb``), ``tcp_fin``, ``tcp_reset`` and
the abort on data after close (``tcp_rcv_state_process``: TCPABORTONDATA). A NAPI poll's
segments arrive together and get one ACK. Differs from the kernel: every SACK block is
reported (the kernel sends at most 3-4); duplicates are dropped whole.

Receive memory (docs/kernel-facts.md, "Receive memory and the window"): every queued skb is
charged its truesize (:mod:`.rmem`) to ``sk_rmem_alloc``; the window advertised is
``__tcp_select_window`` / ``tcp_select_window`` (``net/ipv4/tcp_output.c``) of what is left of
``sk_rcvbuf``; a segment that does not fit (``tcp_try_rmem_schedule``) makes TCP grow
``sk_rcvbuf`` up to ``tcp_rmem[2]`` (``tcp_clamp_window``, unless SO_RCVBUF locked it), then
prune the out-of-order queue from its far end (``tcp_prune_ofo_queue``), then drop the
segment (an in-order one only if the receive queue is not empty). ``tcp_collapse`` is not
modelled: devmem skbs are never collapsed (``skb_frags_readable``), and readable ones here
are not either. Not modelled: ``rcv_ssthresh`` (``tcp_grow_window``: the window opens to the
free space at once), memory pressure, the zero-window drop of ``tcp_data_queue``.
"""

from __future__ import annotations

import errno
from collections import deque
from functools import partial

from ..nic.device import FlowKey
from ..nic.rx import Skb, receive_burst
from . import rmem

__all__ = ["TcpReceiver"]

TCP_MSS_DEFAULT = 536  # icsk_ack.rcv_mss until the first full segment (tcp_initialize_rcv_mss)
TCP_INIT_CWND = 10  # the initial window: 10 segments (tcp_select_initial_window)
# tcp_can_ingest: 6.18 admits a segment while rmem + its length <= sk_rcvbuf (1d2fbaad7cd8,
# then "tcp: use skb->len instead of skb->truesize in tcp_can_ingest()"); 6.12 while
# rmem <= sk_rcvbuf (KernelVersion.rmem_ingest_len). 6.18's autotuning (tcp_rcvbuf_grow)
# differs from 6.12's too (KernelVersion.rcvbuf_grow).


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
        self._rmem = 0  # sk_rmem_alloc: the truesize of every queued skb
        self.scaling_ratio = rmem.TCP_DEFAULT_SCALING_RATIO
        self.rcv_mss = TCP_MSS_DEFAULT
        self._rcv_wnd = 0  # the window last advertised, from _rcv_wup on
        self._rcv_wup = 0
        self._rcvq_space = 0  # autotuning: bytes read in the last RTT, since seq/time
        self._rcvq_seq = 0
        self._rcvq_time = 0
        self._adv_rwnd = 0  # the window in the last ACK sent
        self._rcv_wscale: int | None = None  # chosen at the handshake, then fixed
        # LINUX_MIB counters of what receive memory did (nstat names)
        self.mib = {"PruneCalled": 0, "RcvPruned": 0, "OfoPruned": 0, "TCPOFODrop": 0,
                    "TCPRcvQDrop": 0}

    # ---- memory and the window ---------------------------------------------------------------
    def _wscale(self) -> int:
        """``rcv_wscale``: chosen once, by ``tcp_select_initial_window`` at the handshake."""
        if self._rcv_wscale is None:
            sysctl = self.netns.sysctl
            self._rcv_wscale = rmem.rcv_wscale(max(self.rcvbuf, sysctl["net.ipv4.tcp_rmem"][2],
                                                   sysctl["net.core.rmem_max"]))
        return self._rcv_wscale

    def _rwnd(self) -> int:
        """``__tcp_select_window``: the window the free part of ``sk_rcvbuf`` allows."""
        ratio, unit = self.scaling_ratio, 1 << self._wscale()
        free = rmem.win_from_space(ratio, self.rcvbuf - self._rmem)  # tcp_space
        full = rmem.win_from_space(ratio, self.rcvbuf)  # tcp_full_space (window_clamp)
        mss = min(self.rcv_mss, full)
        if mss <= 0:
            return 0
        if free < full >> 1:
            free = free // unit * unit
            if free < full >> 4 or free < mss:  # move to a zero window in time
                return 0
        return -(-free // unit) * unit

    def _receive_window(self) -> int:
        """``tcp_receive_window``: what is left of the window last advertised."""
        return max(0, self._rcv_wup + self._rcv_wnd - self.rcv_nxt)

    def _select_window(self) -> int:
        """``tcp_select_window``: the window for the next ACK, never less than the last one
        left (``tcp_shrink_window`` 0), which ``rcv_wnd``/``rcv_wup`` then remember."""
        new, cur = self._rwnd(), self._receive_window()
        if new < cur:
            unit = 1 << self._wscale()
            new = -(-cur // unit) * unit
        self._rcv_wnd, self._rcv_wup = new, self.rcv_nxt
        return new

    def _initial_window(self) -> int:
        """The window of the SYN-ACK (``tcp_select_initial_window``): 10 segments at most."""
        self._rcv_wscale = None
        self._wscale()  # fixed from here on, as the SYN's window-scale option says
        full = rmem.win_from_space(self.scaling_ratio, self.rcvbuf)
        win = min(full, TCP_INIT_CWND * self.mss, 0xFFFF)
        self._rcv_wnd, self._rcv_wup = win, 0
        self._rcvq_space = min(win, TCP_INIT_CWND * self.mss)  # tcp_init_buffer_space
        self._rcvq_time = self.netns.link.now_ns
        return win

    def _fits(self, skb: Skb) -> bool:
        """``tcp_can_ingest`` (6.18) / ``sk_rmem_alloc <= sk_rcvbuf`` (6.12)."""
        if self.netns.kernel.version.rmem_ingest_len:
            return self._rmem + skb.length <= self.rcvbuf
        return self._rmem <= self.rcvbuf

    def _try_rmem_schedule(self, skb: Skb) -> bool:
        """``tcp_try_rmem_schedule``: room for ``skb``, pruning if need be."""
        return self._fits(skb) or self._prune_queue(skb) >= 0

    def _prune_queue(self, in_skb: Skb) -> int:
        """``tcp_prune_queue``: grow sk_rcvbuf, (collapse), prune the ofo queue; -1 if no room."""
        if not self._rmem:
            return -1
        self.mib["PruneCalled"] += 1
        if not self._fits(in_skb):
            self._clamp_window()
        if self._fits(in_skb):
            return 0
        self._prune_ofo_queue(in_skb)
        if self._fits(in_skb):
            return 0
        self.mib["RcvPruned"] += 1
        return -1

    def _clamp_window(self) -> None:
        """``tcp_clamp_window``: an unlocked sk_rcvbuf grows to what is charged, up to
        tcp_rmem[2]."""
        rmem2 = self.netns.sysctl["net.ipv4.tcp_rmem"][2]
        if self.rcvbuf < rmem2 and not self.rcvbuf_locked:
            self.rcvbuf = max(self.rcvbuf, min(self._rmem, rmem2))

    def _prune_ofo_queue(self, in_skb: Skb) -> bool:
        """``tcp_prune_ofo_queue``: drop ofo skbs from the highest sequence down, an eighth of
        sk_rcvbuf at a time, until ``in_skb`` fits (or it would itself land last)."""
        ooo = self._ooo
        if not ooo:
            return False
        goal = self.rcvbuf >> 3
        seqs = sorted(ooo, reverse=True)
        pruned = False
        for i, seq in enumerate(seqs):
            if in_skb.seq > seq:  # the incoming skb would land last: stop pruning
                break
            skb = ooo.pop(seq)
            size = rmem.truesize(skb)
            self._ooo_bytes -= skb.length
            self._rmem -= size
            goal -= size
            skb.free()
            pruned = True
            if i == len(seqs) - 1 or goal <= 0:
                if self._fits(in_skb):
                    break
                goal = self.rcvbuf >> 3
        if pruned:
            self.mib["OfoPruned"] += 1  # and the SACK state goes (tcp_sack_reset)
        return pruned

    def _measure_rcv_mss(self, skb: Skb) -> None:
        """``tcp_measure_rcv_mss``: a full segment of a new length sets scaling_ratio."""
        n, size = rmem.packet_truesize(skb)
        if n >= self.rcv_mss:
            if n != self.rcv_mss:
                self.scaling_ratio = (n << rmem.TCP_RMEM_TO_WIN_SCALE) // size or 1
            self.rcv_mss = min(n, self.mss)

    def _rcv_space_adjust(self) -> None:
        """``tcp_rcv_space_adjust`` once per RTT after a read: autotuning (DRS) grows an
        unlocked sk_rcvbuf to twice what the application read in the last RTT, more while
        that grows (``tcp_rcvbuf_grow``), up to tcp_rmem[2]. The receiver's RTT estimate is
        the link's round trip (2 x its one-way delay)."""
        link = self.netns.link
        if link.now_ns - self._rcvq_time < 2 * link.delay_ns:
            return
        inq = self._rq_bytes - self._rq_off
        copied_seq = self.rcv_nxt - inq
        copied = copied_seq - self._rcvq_seq
        grow = self.netns.kernel.version.rcvbuf_grow
        if grow:
            copied -= inq  # 6.16+: what is still queued does not count
        if copied > self._rcvq_space:
            old, self._rcvq_space = max(self._rcvq_space, 1), copied
            sysctl = self.netns.sysctl
            if sysctl["net.ipv4.tcp_moderate_rcvbuf"] and not self.rcvbuf_locked:
                if grow:  # tcp_rcvbuf_grow
                    win = copied << 1
                    win += (win * (copied - old) // old) << 1
                    if self._ooo:
                        top = max(self._ooo)
                        win += top + self._ooo[top].length - self.rcv_nxt
                else:  # 6.12 tcp_rcv_space_adjust
                    win = (copied << 1) + 16 * self.mss
                    win += (win * (copied - old) // old) << 1
                grown = min(rmem.space_from_win(self.scaling_ratio, win),
                            sysctl["net.ipv4.tcp_rmem"][2])
                self.rcvbuf = max(self.rcvbuf, grown)
        self._rcvq_seq, self._rcvq_time = copied_seq, link.now_ns

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
                self._rmem -= rmem.truesize(skb)
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
            self._adv_rwnd = self._select_window()
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
                    and not self._fin_rcvd and self._batch_fits(skb):
                self._append_in_order(skb)  # the common case: in order, nothing pending
                continue
            for seg in skb.segments():
                self._queue_segment(seg)
        self._send_ack()

    def _batch_fits(self, skb: Skb) -> bool:
        """Every packet of the batch would pass ``tcp_can_ingest`` on its own."""
        segs = skb.layout.segs
        if segs is None:
            return self._fits(skb)
        _, k, last = segs
        before = self._rmem + (k - 1) * rmem.packet_truesize(skb)[1]  # when the last comes
        if self.netns.kernel.version.rmem_ingest_len:
            return before + last <= self.rcvbuf
        return before <= self.rcvbuf

    def _queue_segment(self, skb: Skb) -> None:
        ooo = self._ooo
        seq = skb.seq
        if self._closed or self._fin_rcvd or seq < self.rcv_nxt or seq in ooo:
            skb.free()  # duplicate (or nobody left to read it)
        elif seq > self.rcv_nxt:  # tcp_data_queue_ofo
            if not self._try_rmem_schedule(skb):
                self.mib["TCPOFODrop"] += 1
                skb.free()
                return
            ooo[seq] = skb
            self._ooo_bytes += skb.length
            self._rmem += rmem.truesize(skb)
        else:
            if not self._try_rmem_schedule(skb) and self._rq and skb.length:
                self.mib["TCPRcvQDrop"] += 1  # else sk_forced_mem_schedule: taken anyway
                skb.free()
                return
            self._append_in_order(skb)
            while self.rcv_nxt in ooo:  # the hole is filled: the queued run follows
                nxt = ooo.pop(self.rcv_nxt)
                self._ooo_bytes -= nxt.length
                self._rmem -= rmem.truesize(nxt)
                self._append_in_order(nxt)

    def _append_in_order(self, skb: Skb) -> None:
        self._rq.append(skb)
        self._rq_bytes += skb.length
        self._rmem += rmem.truesize(skb)
        self.rcv_nxt += skb.length
        self._measure_rcv_mss(skb)

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
