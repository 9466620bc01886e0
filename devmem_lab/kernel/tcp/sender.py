"""The sending half of a TCP connection: send queue, segments on the wire, ACKs, loss recovery.

Models ``net/ipv4/tcp_output.c`` (``tcp_write_xmit``: new data as far as the peer's window
allows, whole segments only until the end of the queue; ``tcp_send_fin``),
``net/ipv4/tcp_input.c`` (``tcp_ack``: the send queue is trimmed up to the cumulative ACK;
``tcp_sacktag_write_queue``: the SACK scoreboard; fast retransmit of the holes once
DupThresh, 3 segments, is SACKed above them, RFC 6675; ``tcp_retransmit_skb`` resends
nothing past the peer's window but the segment at snd_una) and ``net/ipv4/tcp_timer.c`` (a 2 ms
tail-loss probe, then RTO from 200 ms doubling, "connection timed out" after ``tcp_retries2``
= 15). Differs from the kernel: no congestion control or pacing; the send queue is the list
of buffers ``send()`` was given (``send.py`` appends to it), not skbs.
"""

from __future__ import annotations

import bisect
import errno
from functools import partial

from ...errors import DevmemError
from ..nic.rx import header_len

__all__ = ["NAPI_BUDGET", "TLP_PTO_NS", "TcpSender", "sack_holes", "subtract"]

TCP_RTO_MIN_NS = 200_000_000
TLP_PTO_NS = 2_000_000  # tail loss probe: 2 jiffies at HZ=1000 (TCP_TIMEOUT_MIN), >> 2*RTT here
TCP_RTO_MAX_NS = 120_000_000_000
TCP_RETRIES2 = 15
NAPI_BUDGET = 64  # packets a NAPI poll handles (interrupt coalescing): one event, one ACK
DUPTHRESH = 3  # segments SACKed above a hole before it counts as lost (RFC 6675)


def sack_holes(una: int, sacked: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The unSACKed ranges from ``una`` up to the highest SACKed byte (``sacked``: merged,
    ascending ``[start, end)`` blocks)."""
    holes, at = [], una
    for a, b in sacked:
        if a > at:
            holes.append((at, a))
        at = max(at, b)
    return holes


def subtract(ranges: list[tuple[int, int]], minus: list[tuple[int, int]]) -> list:
    """``ranges`` less every byte in ``minus`` (both sorted, non-overlapping)."""
    out = []
    for a, b in ranges:
        for c, d in minus:
            if d <= a or c >= b:
                continue
            if c > a:
                out.append((a, c))
            a = max(a, d)
            if a >= b:
                break
        if a < b:
            out.append((a, b))
    return out


class TcpSender:
    """The sender's state and functions, mixed into :class:`~.socket.TcpSocket`."""

    def _init_sender(self, rwnd: int) -> None:
        # the unacknowledged stream, as the buffers send() was given
        self._snd_chunks: list[memoryview] = []
        self._snd_starts: list[int] = []  # stream offset of each chunk
        self._write_seq = 0
        self.snd_una = 0
        self.snd_nxt = 0
        self._fin_queued = False
        self._fin_sent = False
        self._peer_rwnd = rwnd
        self._rto_ns = TLP_PTO_NS
        self._retries = 0
        self._sacked: list[tuple[int, int]] = []  # SACK scoreboard (merged, ascending)
        self._rexmitted: list[tuple[int, int]] = []  # resent since the last timer
        self._timer_gen = 0
        self._timer_armed = False
        self.retransmits = 0

    def _check_sendable(self) -> None:
        """``tcp_sendmsg_locked`` before queueing: a pending error once, then EPIPE."""
        if self._err:
            err, self._err = self._err, 0
            raise DevmemError(err)
        if self._fin_queued or self.state not in ("ESTABLISHED", "CLOSE_WAIT"):
            raise DevmemError(errno.EPIPE)

    @property
    def tx_stats(self):
        """Counters of the tx queue this connection's packets leave by (XPS by flow hash)."""
        dev = self.route_dev or self.netns.nic
        if self._flow_in is None:
            return dev.tx_queues[0].stats
        return dev.tx_queues[dev.rss_hash(self._flow_in) % len(dev.tx_queues)].stats

    @property
    def write_seq(self) -> int:
        return self._write_seq

    def _payload(self, start: int, end: int):
        """Stream bytes ``[start, end)``: a slice of one send buffer, or joined across them."""
        starts, chunks = self._snd_starts, self._snd_chunks
        i = bisect.bisect_right(starts, start) - 1
        off = start - starts[i]
        if end - starts[i] <= chunks[i].nbytes:
            return chunks[i][off:end - starts[i]]
        parts = []
        while start < end:
            take = min(end, starts[i] + chunks[i].nbytes)
            parts.append(chunks[i][start - starts[i]:take - starts[i]])
            start = take
            i += 1
        return b"".join(parts)

    def _drop_acked(self) -> None:
        chunks, starts = self._snd_chunks, self._snd_starts
        n = 0
        while n < len(chunks) and starts[n] + chunks[n].nbytes <= self.snd_una:
            n += 1
        if n:
            del chunks[:n], starts[:n]

    def _transmit(self) -> None:
        """Send new data as far as the peer's window allows, then a queued FIN."""
        if self.peer is None:
            return
        end = self.write_seq
        limit = min(end, self.snd_una + self._peer_rwnd)
        if limit < end:  # sender silly-window avoidance: only whole segments until the end
            limit = self.snd_nxt + (limit - self.snd_nxt) // self.mss * self.mss
        if limit > self.snd_nxt:
            self._emit([(self.snd_nxt, limit)])
            self.snd_nxt = limit
        if self._fin_queued and not self._fin_sent and self.snd_nxt == end:
            self._send_fin(end)
            self.snd_nxt = end + 1
        self._arm_timer()

    def _send_fin(self, seq: int) -> None:
        self._fin_sent = True
        link = self.netns.link
        link.schedule_at(link.wire(self.netns, header_len(self._flow_in.family)),
                         partial(self.peer._on_fin, seq))

    def _emit(self, ranges: list[tuple[int, int]]) -> int:
        """Put ``[start, end)`` ranges of the stream on the wire in MSS-sized segments.

        The peer's NIC takes them NAPI_BUDGET at a time: one event per poll, at the arrival of
        its last packet, carrying ``(seq, payload, mss)`` runs. Returns the segments sent.
        """
        link, peer, mss = self.netns.link, self.peer, self.mss
        hdr = header_len(self._flow_in.family)
        loop = self.route_dev is not None and self.route_dev.kind != "nic"
        runs: list[tuple] = []
        nseg = arrival = pkts = nbytes = 0
        for seq, stop in ranges:
            while seq < stop:
                k = min(NAPI_BUDGET - nseg, -(-(stop - seq) // mss))
                end = min(stop, seq + k * mss)
                runs.append((seq, self._payload(seq, end), mss))
                arrival = link.now_ns if loop else link.wire_run(
                    self.netns, mss + hdr, k - 1, end - seq - (k - 1) * mss + hdr)
                nseg += k
                pkts += k
                nbytes += end - seq + k * hdr
                seq = end
                if nseg == NAPI_BUDGET:
                    link.schedule_at(arrival, partial(peer._on_burst, runs))
                    runs, nseg = [], 0
        if runs:
            link.schedule_at(arrival, partial(peer._on_burst, runs))
        if pkts:
            st = self.tx_stats
            st.packets += pkts
            st.bytes += nbytes
        return pkts

    # ---- loss recovery: SACK scoreboard, fast retransmit, TLP then RTO -------------------
    def _holes(self) -> list[tuple[int, int]]:
        """Unsacked ranges below the highest SACKed byte (RFC 6675 'lost' once DupThresh met)."""
        return sack_holes(self.snd_una, self._sacked)

    def _in_window(self, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """``tcp_retransmit_skb``: nothing past the peer's window is resent, except the
        segment at snd_una."""
        edge = max(self.snd_una + self._peer_rwnd, self.snd_una + self.mss)
        return [(a, min(b, edge)) for a, b in ranges if a < edge]

    def _arm_timer(self) -> None:
        if self._timer_armed or self.snd_una >= self.snd_nxt or self._err:
            return
        self._timer_armed = True
        gen = self._timer_gen
        self.netns.link.schedule(self._rto_ns, partial(self._on_timeout, gen))

    def _on_timeout(self, gen: int) -> None:
        """TLP probe first (2 ms), then RTO from 200 ms doubling; give up after tcp_retries2."""
        if gen != self._timer_gen:
            return
        self._timer_armed = False
        if self.snd_una >= self.snd_nxt:
            return
        self._retries += 1
        if self._retries > TCP_RETRIES2:
            self._err = errno.ETIMEDOUT
            if self._zc is not None:  # tcp_write_err: tcp_write_queue_purge
                self._zc.purge()
            return
        data_end = min(self.snd_nxt, self.write_seq)
        top = self._sacked[-1][1] if self._sacked else self.snd_una
        lost = self._in_window(self._holes() + ([(top, data_end)] if data_end > top else []))
        self.retransmits += self._emit(lost)
        self._rexmitted = lost
        if self._fin_sent and self.snd_una <= self.write_seq and self.snd_nxt > self.write_seq:
            self._send_fin(self.write_seq)
        self._rto_ns = TCP_RTO_MIN_NS if self._rto_ns < TCP_RTO_MIN_NS else \
            min(2 * self._rto_ns, TCP_RTO_MAX_NS)
        self._timer_gen += 1
        self._arm_timer()

    def _on_ack(self, ack: int, rwnd: int, sack: tuple = ()) -> None:
        """``tcp_ack``: the peer's cumulative ACK, window and SACK blocks arrive."""
        self._peer_rwnd = rwnd
        if ack > self.snd_una:
            self.snd_una = ack
            self._drop_acked()
            if self._zc is not None:  # MSG_ZEROCOPY: acknowledged data completes
                self._zc.acked(ack)
            self.snd_nxt = max(self.snd_nxt, ack)
            self._retries = 0
            self._rto_ns = TLP_PTO_NS
            self._timer_gen += 1
            self._timer_armed = False
            self._rexmitted = [(a, b) for a, b in self._rexmitted if b > ack]
            self._maybe_done()
        self._sacked = [r for r in sack if r[1] > self.snd_una]
        holes = self._holes()
        if holes and sum(b - max(a, holes[0][1]) for a, b in self._sacked) \
                >= DUPTHRESH * self.mss:
            todo = self._in_window(subtract(holes, self._rexmitted))
            if todo:  # fast retransmit of what SACK shows missing, once per loss
                self.retransmits += self._emit(todo)
                self._rexmitted = sorted(self._rexmitted + todo)
        self._transmit()
