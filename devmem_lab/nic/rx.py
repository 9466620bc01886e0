"""The NIC receive datapath: steer a packet to an rx queue and place it in memory.

Models what a devmem-capable driver (bnxt, gve, mlx5, fbnic) does per received TCP packet:
classify (ntuple rules, then RSS), take buffers from the queue's page pool, and with header
split on a queue that has a memory provider, DMA the headers to host memory and the payload
into net_iovs of the bound dma-buf (``skb_add_rx_frag_netmem`` marks the skb unreadable).

When the pool is empty (``mp_dmabuf_devmem_alloc_netmems`` returns 0) the packet is dropped
and counted as ``rx-alloc-fail`` and ``rx-hw-drops`` (driver-specific in reality; see
devmem-facts.md section 7).

Emulator choices:
- one net_iov per ``niov_size`` bytes of payload; a packet never shares a net_iov;
- ``NetDevice.hds_linear_bytes`` (default 0): payload bytes the NIC leaves in the header
  buffer when it cannot split exactly at the header boundary; they become the skb's linear
  part and reach user space as ``SCM_DEVMEM_LINEAR``;
- with hds-thresh N > 0, payloads of at most N bytes are not split (whole packet in host
  memory: an ordinary readable skb);
- a bound queue with header split off (possible only on 6.12, which does not check) drops
  every packet: the driver cannot read headers out of device memory.
"""

from __future__ import annotations

from .device import FlowKey, NetDevice

__all__ = ["Skb", "header_len", "receive_burst"]


class Skb:
    """A received segment: linear bytes (host memory) plus net_iov frags (device memory)."""

    __slots__ = ("frags", "length", "linear", "pages", "pool", "readable", "seq")

    def __init__(self, seq: int, length: int, linear: bytes, frags: list, readable: bool,
                 pool=None, pages: int = 0) -> None:
        self.seq = seq
        self.length = length  # payload bytes: linear + frags
        self.linear = linear
        self.frags = frags  # [(binding, niov, offset_in_niov, size)]
        self.readable = readable
        self.pool = pool  # page pool owning the host pages of a readable skb
        self.pages = pages

    def __repr__(self) -> str:
        kind = "readable" if self.readable else "devmem"
        return f"Skb(seq={self.seq}, len={self.length}, {kind}, linear={len(self.linear)})"

    def free(self) -> None:
        """``kfree_skb``: drop the skb's references on its buffers."""
        for binding, niov, _, _ in self.frags:
            binding.put(niov)
        self.frags = []
        if self.pool is not None and self.pages:
            self.pool.release(self.pages)
            self.pages = 0


def header_len(family: int) -> int:
    """Ethernet + IP + TCP with timestamps: what header split puts in the header buffer."""
    return 14 + (40 if family == 6 else 20) + 32


def receive_burst(dev: NetDevice, flow: FlowKey, segments) -> list[Skb | None]:
    """A NAPI poll's worth of packets of one flow: an skb per packet, ``None`` where dropped.

    Steering is decided once per poll (the configuration cannot change in between).
    """
    q = dev.classify(flow)
    hdr = header_len(flow.family)
    if q < 0:  # ntuple action -1 (drop)
        dev.rx_queues[0].stats.hw_drops += len(segments)
        return [None] * len(segments)
    rxq = dev.rx_queues[q]
    st, binding, pool = rxq.stats, rxq.binding, rxq.pool
    thresh = dev.hds_thresh if dev.tcp_data_split == "on" else 0
    if binding is not None and dev.tcp_data_split != "on":
        st.hw_drops += len(segments)
        return [None] * len(segments)
    linear_max = getattr(dev, "hds_linear_bytes", 0)
    out: list[Skb | None] = []
    for seq, payload in segments:
        n = len(payload)
        if binding is None or n <= thresh:
            # host pages: the queue's pool, or (on a bound queue, a packet under hds-thresh)
            # the driver's header buffers, which are not modelled
            host_pool = pool if binding is None else None
            pages = -(-(n + hdr) // 4096)
            if host_pool is not None:
                host_pool.alloc_pages(pages)
            st.packets += 1
            st.bytes += n + hdr
            st.host_bytes += n + hdr
            out.append(Skb(seq, n, bytes(payload), [], True, host_pool,
                           pages if host_pool is not None else 0))
            continue
        out.append(_devmem_skb(binding, pool, st, seq, payload, min(linear_max, n), hdr))
    return out


def _devmem_skb(binding, pool, st, seq: int, payload, linear_n: int, hdr: int) -> Skb | None:
    """Header split into a bound queue: headers (+ linear_n payload bytes) to host memory,
    the rest DMA'd into freshly allocated net_iovs."""
    n = len(payload)
    size = binding.niov_size
    mem = binding.dmabuf.mem
    frags = []
    for start in range(linear_n, n, size):
        idx = pool.alloc_niov()
        if idx is None:
            for b, i, _, _ in frags:
                b.put(i)
            st.alloc_fail += 1
            st.hw_drops += 1
            return None
        chunk = payload[start:start + size]
        base = idx * size
        mem[base:base + len(chunk)] = chunk
        frags.append((binding, idx, 0, len(chunk)))
    st.packets += 1
    st.bytes += n + hdr
    st.host_bytes += hdr + linear_n
    st.devmem_bytes += n - linear_n
    return Skb(seq, n, bytes(payload[:linear_n]), frags, not frags)
