"""Receive memory: what an skb is charged (truesize) and how memory becomes a window.

Models ``include/net/tcp.h`` (``tcp_win_from_space`` / ``tcp_space_from_win``: memory times
``scaling_ratio`` / 256, the ratio ``tcp_measure_rcv_mss`` measures as payload / truesize of
a full-sized segment, 50% until then: ``TCP_DEFAULT_SCALING_RATIO``) and the truesize
drivers charge: ``skb_add_rx_frag_netmem(skb, i, netmem, off, len, truesize)``
(``include/linux/skbuff.h``) adds ``truesize`` to ``skb->truesize``, and bnxt passes
``BNXT_RX_PAGE_SIZE`` (a page) for every frag whatever its length
(``drivers/net/ethernet/broadcom/bnxt/bnxt.c``, ``__bnxt_rx_agg_netmems``). A devmem frag is
charged its whole net_iov. The head skb holding the headers is charged
``SKB_TRUESIZE(256)`` = 832 bytes on x86_64 (the lab's figure for the small header copy).
``tcp_adv_win_scale`` is obsolete since 6.6 (``Documentation/networking/ip-sysctl.rst``): the
ratio replaced it, in 6.12 and 6.18 alike.
"""

from __future__ import annotations

__all__ = ["HEAD_TRUESIZE", "TCP_DEFAULT_SCALING_RATIO", "rcv_wscale", "space_from_win",
           "truesize", "win_from_space"]

TCP_RMEM_TO_WIN_SCALE = 8
TCP_DEFAULT_SCALING_RATIO = 1 << (TCP_RMEM_TO_WIN_SCALE - 1)  # 50% (6.10+)
HEAD_TRUESIZE = 832  # SKB_TRUESIZE(256): 256 + sizeof(sk_buff) 256 + skb_shared_info 320
PAGE_SIZE = 4096  # BNXT_RX_PAGE_SIZE on 4 KiB-page machines
TCP_MAX_WSCALE = 14


def win_from_space(ratio: int, space: int) -> int:
    """``__tcp_win_from_space``: the payload ``space`` bytes of memory hold."""
    return (space * ratio) >> TCP_RMEM_TO_WIN_SCALE


def space_from_win(ratio: int, win: int) -> int:
    """``__tcp_space_from_win``: the memory ``win`` payload bytes take."""
    return (win << TCP_RMEM_TO_WIN_SCALE) // ratio


def truesize(skb) -> int:
    """``skb->truesize`` of a received skb (a batch: the sum over its packets)."""
    if not len(skb.niovs):  # readable: the payload in host pages
        return HEAD_TRUESIZE + PAGE_SIZE * -(-skb.length // PAGE_SIZE)
    segs = skb.layout.segs
    return HEAD_TRUESIZE * (segs[1] if segs else 1) + len(skb.niovs) * skb.binding.niov_size


def packet_truesize(skb) -> tuple[int, int]:
    """``(len, truesize)`` of the skb's first packet, as ``tcp_measure_rcv_mss`` sees it."""
    segs = skb.layout.segs
    if segs is None:
        return skb.length, truesize(skb)
    mss = segs[0]
    return mss, HEAD_TRUESIZE + -(-mss // skb.binding.niov_size) * skb.binding.niov_size


def rcv_wscale(space: int) -> int:
    """``tcp_select_initial_window``: the window scale for buffers up to ``space`` bytes."""
    return min(max(space.bit_length() - 1 - 15, 0), TCP_MAX_WSCALE)
