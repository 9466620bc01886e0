"""Host memory and PCIe traffic of three receive paths: copy, zero-copy and devmem TCP.

A byte that arrives on a NIC and is meant for an accelerator can take three routes:

``"copy"``
    The NIC DMA-writes the frame into a kernel buffer, ``recv()`` copies the payload into a
    user buffer (``net/ipv4/tcp.c`` ``tcp_recvmsg_locked`` -> ``skb_copy_datagram_iter``),
    and the accelerator DMA-reads that user buffer (a host bounce).
``"zerocopy"``
    TCP receive zero-copy (``TCP_ZEROCOPY_RECEIVE``, ``tcp_zerocopy_receive``; the receive
    counterpart of ``MSG_ZEROCOPY``): the payload pages are mapped into the process, there is
    no CPU copy, but the payload still lands in host DRAM and is DMA-read from there.
``"devmem"``
    Device-memory TCP (``net/core/devmem.c``): with header split the NIC writes only the
    headers to host memory and the payload straight into the accelerator's dma-buf
    (PCIe peer-to-peer). Host DRAM sees header bytes only.

The model counts bytes per packet, then scales by the packet rate. Its numbers (Ethernet and
TCP/IP header sizes, DDR5 and PCIe peaks) are in ``data/figures.csv`` with their sources.

Assumptions (where the model is simpler than a machine):

* Byte granular: cache-line rounding, descriptor rings, completion writes and TCP ACKs that
  the host sends are not counted.
* ``ddio_share`` is the fraction of NIC-written bytes the first reader still finds in the
  last-level cache (Intel DDIO); those bytes skip both the DRAM write and that first DRAM read.
* The copy writes its destination once (large ``rep movsb`` copies avoid read-for-ownership)
  and the accelerator's DMA read of the user buffer comes from DRAM.
* Without header split the payload is not page aligned, so TCP zero-copy falls back to a copy
  and devmem cannot be used at all: bind-rx refuses a queue without tcp-data-split since
  about 6.14 ("tcp-data-split is disabled"); its row is NaN.
"""

from __future__ import annotations

import math
import numbers
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = [
    "DRAM_PEAK_GBPS",
    "ETH_HEADER_BYTES",
    "ETH_WIRE_OVERHEAD_BYTES",
    "PATHS",
    "PCIE_X16_GBPS",
    "compare_with_emulator",
    "emulated_host_bytes",
    "host_memory_traffic",
    "max_line_rate_gbps",
    "measure_copy_cost",
    "packet_bytes",
    "per_packet_bytes",
    "plot_dram_vs_line_rate",
    "traffic_vs_line_rate",
]

#: Receive paths, in the order of the DataFrame index.
PATHS: tuple[str, ...] = ("copy", "zerocopy", "devmem")

#: Theoretical DRAM peaks, GB/s (data/figures.csv ``ddr5_8ch``, ``ddr5_12ch``).
DRAM_PEAK_GBPS: dict[str, float] = {"DDR5-4800 8 ch": 307.2, "DDR5-4800 12 ch": 460.8}

#: PCIe x16 bandwidth per direction after encoding, GB/s (``pcie3_x16`` .. ``pcie5_x16``).
PCIE_X16_GBPS: dict[str, float] = {
    "PCIe Gen3 x16": 15.75,
    "PCIe Gen4 x16": 31.5,
    "PCIe Gen5 x16": 63.0,
}

#: Preamble+SFD 8, MAC header 14, FCS 4, inter-frame gap 12 (``eth_wire_overhead``).
ETH_WIRE_OVERHEAD_BYTES = 38
#: MAC header that reaches memory; the NIC strips the FCS (``eth_header``).
ETH_HEADER_BYTES = 14
#: IP + TCP header bytes inside the MTU: IPv4/IPv6 header + TCP with timestamps (32 B).
_L34_HEADER_BYTES = {4: 20 + 32, 6: 40 + 32}


# --------------------------------------------------------------------------- validation
def _number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    strict: bool = False,
    maximum: float | None = None,
    integer: bool = False,
) -> float:
    """Return ``value`` as a float or raise ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        # the issue asks for ValueError on non-numeric input, so callers catch one class
        raise ValueError(f"{name} must be a number, got {value!r}")  # noqa: TRY004
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if integer and v != int(v):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        rel = ">" if strict else ">="
        raise ValueError(f"{name} must be {rel} {minimum:g}, got {value!r}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum:g}, got {value!r}")
    return v


def _check_mtu(mtu: Any, ip_version: Any = 4) -> tuple[int, int]:
    if ip_version not in _L34_HEADER_BYTES:
        raise ValueError(f"ip_version must be 4 or 6, got {ip_version!r}")
    l34 = _L34_HEADER_BYTES[ip_version]
    m = int(_number("mtu", mtu, minimum=l34 + 1, maximum=65535, integer=True))
    return m, l34


# --------------------------------------------------------------------------- the model
def packet_bytes(mtu: int = 1500, ip_version: int = 4) -> dict[str, int]:
    """Byte budget of one full-size TCP packet.

    Parameters
    ----------
    mtu : int
        IP MTU in bytes (the Ethernet payload).
    ip_version : {4, 6}
        4: 20-byte IPv4 header; 6: 40-byte IPv6 header. TCP carries timestamps (32 bytes).

    Returns
    -------
    dict
        ``wire`` (bytes of line time, incl. preamble and gap), ``frame`` (bytes DMA-written,
        FCS stripped), ``header`` (Ethernet + IP + TCP) and ``payload``.

    Raises
    ------
    ValueError
        If ``mtu`` is not a whole number in [headers + 1, 65535] or ``ip_version`` is not 4/6.

    Examples
    --------
    >>> packet_bytes(1500)
    {'wire': 1538, 'frame': 1514, 'header': 66, 'payload': 1448}
    """
    m, l34 = _check_mtu(mtu, ip_version)
    return {
        "wire": m + ETH_WIRE_OVERHEAD_BYTES,
        "frame": m + ETH_HEADER_BYTES,
        "header": ETH_HEADER_BYTES + l34,
        "payload": m - l34,
    }


# Per-packet byte movements, before DDIO: who touches which bytes on each path.
_STEPS = ("nic_write", "stack_read", "copy_read", "copy_write", "accel_read")


def _steps(pkt: dict[str, int], header_split: bool) -> dict[str, tuple[float, float, float]]:
    """Bytes per packet of each step, as (copy, zerocopy, devmem)."""
    h, p = float(pkt["header"]), float(pkt["payload"])
    steps = {
        "nic_write": (h + p, h + p, h),  # NIC DMA into host memory (devmem: headers only)
        "stack_read": (h, h, h),  # TCP/IP reads the headers
        "copy_read": (p, 0.0, 0.0),  # copy_to_user reads the skb payload
        "copy_write": (p, 0.0, 0.0),  # ... and writes the user buffer
        "accel_read": (p, p, 0.0),  # accelerator DMA-reads host memory
    }
    if not header_split:  # zero-copy falls back to a copy; no devmem
        steps = {k: (v[0], v[0], math.nan) for k, v in steps.items()}
    return steps


def _per_packet(pkt: dict[str, int], header_split: bool, ddio: float) -> dict[str, np.ndarray]:
    """DRAM write/read, CPU copy and host PCIe bytes per packet (arrays in PATHS order)."""
    st = {k: np.array(v) for k, v in _steps(pkt, header_split).items()}
    miss = 1.0 - ddio  # share of NIC-written bytes that reach DRAM
    # DDIO: the first reader of NIC-written bytes may find them in the LLC. For the headers
    # that is the stack; for the payload the copy (copy path) or the accelerator (zero-copy).
    first_payload_read = st["copy_read"] + np.array([0.0, 1.0, 1.0]) * st["accel_read"]
    later_reads = st["accel_read"] - np.array([0.0, 1.0, 1.0]) * st["accel_read"]
    return {
        "w": st["nic_write"] * miss + st["copy_write"],
        "r": (st["stack_read"] + first_payload_read) * miss + later_reads,
        "cpu": st["copy_write"],
        "pcie_host": st["nic_write"] + st["accel_read"],
    }


def per_packet_bytes(
    mtu: int = 1500, *, header_split: bool = True, ip_version: int = 4
) -> pd.DataFrame:
    """Who moves which bytes of one received packet on each path (no DDIO).

    The steps behind :func:`host_memory_traffic`: ``nic_write`` (NIC DMA into host memory),
    ``stack_read`` (TCP/IP reads the headers), ``copy_read``/``copy_write``
    (``copy_to_user`` in ``tcp_recvmsg_locked``), ``accel_read`` (the accelerator DMA-reads
    host memory). Host DRAM bytes are their sum. Useful to compare with counters, e.g. the
    emulator's ``rx_host_bytes`` (``nic_write``) and the bytes ``recv()`` returns
    (``copy_write``).

    Returns
    -------
    pandas.DataFrame
        Index ``path``; columns ``nic_write_bytes``, ``stack_read_bytes``,
        ``copy_read_bytes``, ``copy_write_bytes``, ``accel_read_bytes``, ``dram_bytes``
        (their sum) and ``payload_bytes``. NaN for devmem without header split.

    Raises
    ------
    ValueError
        Bad ``mtu``, ``header_split`` or ``ip_version``.

    Examples
    --------
    >>> per_packet_bytes(1500)["dram_bytes"].tolist()
    [5924.0, 3028.0, 132.0]
    """
    import pandas as pd

    pkt, _, _ = _validate(0.0, mtu, 1, header_split, 0.0, ip_version)
    st = _steps(pkt, bool(header_split))
    df = pd.DataFrame(
        {f"{k}_bytes": st[k] for k in _STEPS}, index=pd.Index(list(PATHS), name="path")
    )
    df["dram_bytes"] = df.sum(axis=1, skipna=False)
    df["payload_bytes"] = float(pkt["payload"])
    return df


def _validate(
    line_rate_gbps: Any, mtu: Any, nics: Any, header_split: Any, ddio_share: Any, ip_version: Any
) -> tuple[dict[str, int], int, float]:
    pkt = packet_bytes(mtu, ip_version)
    n = int(_number("nics", nics, minimum=1, integer=True))
    d = _number("ddio_share", ddio_share, minimum=0.0, maximum=1.0)
    if not isinstance(header_split, (bool, np.bool_)):
        raise ValueError(f"header_split must be True or False, got {header_split!r}")  # noqa: TRY004
    rates = np.atleast_1d(np.asarray(line_rate_gbps, dtype=object))
    for r in rates:
        _number("line_rate_gbps", r, minimum=0.0)
    return pkt, n, d


def host_memory_traffic(
    line_rate_gbps: float,
    mtu: int = 1500,
    nics: int = 1,
    *,
    header_split: bool = True,
    ddio_share: float = 0.0,
    ip_version: int = 4,
) -> pd.DataFrame:
    """Host DRAM and PCIe traffic of the copy, zero-copy and devmem receive paths.

    Every NIC receives full-size TCP packets back to back at ``line_rate_gbps``; the payload
    is destined for an accelerator. Models the data movement of ``tcp_recvmsg_locked`` (copy),
    ``tcp_zerocopy_receive`` (zero-copy) and ``tcp_recvmsg_dmabuf`` (devmem) described in the
    module docstring.

    Parameters
    ----------
    line_rate_gbps : float
        Line rate of each NIC, Gb/s (>= 0).
    mtu : int, default 1500
        IP MTU; the payload is ``mtu - 52`` bytes for IPv4 (TCP timestamps on).
    nics : int, default 1
        Number of NICs, each at ``line_rate_gbps``; rates add up.
    header_split : bool, default True
        NIC header/data split (``ethtool -G eth1 tcp-data-split on``). Off: zero-copy falls
        back to a copy and devmem is impossible (NaN row).
    ddio_share : float in [0, 1], default 0
        Fraction of NIC-written bytes still in the LLC when first read (Intel DDIO).
    ip_version : {4, 6}, default 4

    Returns
    -------
    pandas.DataFrame
        Index ``path`` (``"copy"``, ``"zerocopy"``, ``"devmem"``); columns:
        ``dram_GBps`` (host DRAM bytes moved per second, read + write),
        ``dram_write_GBps``, ``dram_read_GBps``,
        ``dram_bytes_per_payload_byte`` (the per-byte factor: 4, 2, ~0 for large MTU),
        ``cpu_copy_GBps`` (bytes the CPU copies), ``pcie_host_GBps`` (PCIe bytes that start
        or end in host memory, all NICs), ``pcie_nic_GBps`` (bytes on one NIC's PCIe link),
        ``goodput_GBps`` (payload delivered, all NICs), ``saving_vs_copy`` (1 - DRAM/copy DRAM).

    Raises
    ------
    ValueError
        A parameter that is negative, non-numeric or out of range; the message names it.

    Examples
    --------
    >>> df = host_memory_traffic(100, mtu=1500)
    >>> df["dram_bytes_per_payload_byte"].round(3).tolist()
    [4.091, 2.091, 0.091]
    """
    import pandas as pd

    rate = _number("line_rate_gbps", line_rate_gbps, minimum=0.0)
    pkt, n, d = _validate(rate, mtu, nics, header_split, ddio_share, ip_version)
    per = _per_packet(pkt, bool(header_split), d)
    pps = rate * 1e9 / 8.0 / pkt["wire"] * n  # packets per second, all NICs
    dram = (per["w"] + per["r"]) * pps / 1e9
    with np.errstate(invalid="ignore"):
        saving = 1.0 - dram / dram[0] if dram[0] > 0 else np.zeros(3)
    df = pd.DataFrame(
        {
            "dram_GBps": dram,
            "dram_write_GBps": per["w"] * pps / 1e9,
            "dram_read_GBps": per["r"] * pps / 1e9,
            "dram_bytes_per_payload_byte": (per["w"] + per["r"]) / pkt["payload"],
            "cpu_copy_GBps": per["cpu"] * pps / 1e9,
            "pcie_host_GBps": per["pcie_host"] * pps / 1e9,
            "pcie_nic_GBps": np.full(3, pkt["frame"] * pps / n / 1e9),
            "goodput_GBps": np.full(3, pkt["payload"] * pps / 1e9),
            "saving_vs_copy": saving,
        },
        index=pd.Index(list(PATHS), name="path"),
    )
    if not header_split:
        df.loc["devmem", ["pcie_nic_GBps", "goodput_GBps"]] = math.nan
    return df


def traffic_vs_line_rate(
    line_rates_gbps,
    mtu: int = 1500,
    nics: int = 1,
    *,
    header_split: bool = True,
    ddio_share: float = 0.0,
    ip_version: int = 4,
) -> pd.DataFrame:
    """Host DRAM traffic of each path over a range of line rates (vectorised).

    Same model as :func:`host_memory_traffic`, evaluated for many rates at once.

    Parameters
    ----------
    line_rates_gbps : array_like of float
        Line rates per NIC, Gb/s (>= 0).
    mtu, nics, header_split, ddio_share, ip_version
        As in :func:`host_memory_traffic`.

    Returns
    -------
    pandas.DataFrame
        Index ``line_rate_gbps``; columns ``copy_dram_GBps``, ``zerocopy_dram_GBps``,
        ``devmem_dram_GBps``, ``pcie_nic_GBps`` (one NIC's link) and ``goodput_GBps``.

    Raises
    ------
    ValueError
        As in :func:`host_memory_traffic`.
    """
    import pandas as pd

    pkt, n, d = _validate(line_rates_gbps, mtu, nics, header_split, ddio_share, ip_version)
    rates = np.asarray(line_rates_gbps, dtype=float).ravel()
    per = _per_packet(pkt, bool(header_split), d)
    pps = rates * 1e9 / 8.0 / pkt["wire"] * n  # shape (R,)
    dram = np.outer(pps, per["w"] + per["r"]) / 1e9  # shape (R, 3)
    cols = {f"{p}_dram_GBps": dram[:, i] for i, p in enumerate(PATHS)}
    cols["pcie_nic_GBps"] = pkt["frame"] * pps / n / 1e9
    cols["goodput_GBps"] = pkt["payload"] * pps / 1e9
    return pd.DataFrame(cols, index=pd.Index(rates, name="line_rate_gbps"))


def max_line_rate_gbps(
    dram_ceiling_GBps: float,
    mtu: int = 1500,
    nics: int = 1,
    *,
    header_split: bool = True,
    ddio_share: float = 0.0,
    ip_version: int = 4,
) -> pd.Series:
    """Per-NIC line rate at which each path alone would use ``dram_ceiling_GBps`` of DRAM.

    Traffic is linear in the rate, so this is the ceiling divided by the traffic at 1 Gb/s.
    Real machines sustain roughly 70-80 % of the theoretical DRAM peak, and the rest of the
    system needs DRAM too, so treat the result as an upper bound.

    Returns
    -------
    pandas.Series
        Index ``path``, name ``max_line_rate_gbps`` (inf where a path moves no DRAM bytes).

    Raises
    ------
    ValueError
        ``dram_ceiling_GBps`` not a positive number, or a bad model parameter.
    """
    ceiling = _number("dram_ceiling_GBps", dram_ceiling_GBps, minimum=0.0, strict=True)
    per_gbps = host_memory_traffic(
        1.0, mtu, nics, header_split=header_split, ddio_share=ddio_share, ip_version=ip_version
    )["dram_GBps"]
    with np.errstate(divide="ignore"):
        out = ceiling / per_gbps
    return out.rename("max_line_rate_gbps")


# --------------------------------------------------------------------------- emulator
def emulated_host_bytes(
    path: str = "devmem",
    packets: int = 200,
    mtu: int = 1500,
    seed: int = 0,
    *,
    queue: int = 15,
    port: int = 5201,
) -> dict:
    """Count the host-memory bytes of a transfer on the emulator (:class:`devmem_lab.Lab`).

    The client sends ``packets`` full-size IPv4 segments. ``"copy"``: the server reads them
    with ``recv()`` from an ordinary queue. ``"devmem"``: as ncdevmem, with header split, an
    ntuple rule to ``queue`` bound to a udmabuf, ``recvmsg(MSG_SOCK_DEVMEM)`` and every token
    returned at once. The counts come from what a program can see: ``ethtool -S eth1``
    (``rx_packets``, ``rx_host_bytes``: what the NIC wrote to host memory,
    ``rx_devmem_bytes``: what it wrote to the dma-buf) and the bytes ``recvmsg`` copied
    into the user buffer (linear data). Zero-copy receive is not emulated.

    Returns
    -------
    dict
        ``packets``, ``nic_write_bytes``, ``copy_write_bytes`` and ``devmem_bytes``, each
        per packet, comparable with :func:`per_packet_bytes`.

    Raises
    ------
    ValueError
        Unknown ``path``, ``packets`` < 1, ``mtu`` outside the lab's [1280, 9000].
    """
    import re

    from devmem_lab import Lab, uapi
    from devmem_lab.scenario import ncdevmem_rx

    if path not in ("copy", "devmem"):
        raise ValueError(
            f"path must be 'copy' or 'devmem' (zerocopy is not emulated), got {path!r}"
        )
    n = int(_number("packets", packets, minimum=1, integer=True))
    m = int(_number("mtu", mtu, minimum=1280, maximum=9000, integer=True))
    payload = packet_bytes(m)["payload"]
    lab = Lab(seed=int(_number("seed", seed, minimum=0, integer=True)), mtu=m)
    srv = lab.server
    devmem = path == "devmem"
    # ncdevmem's set-up (devmem) or the same TCP flow alone (copy)
    sc = ncdevmem_rx(lab, queue=queue, pages=max(64, 2 * n), port=port, family=socket.AF_INET,
                     devmem=devmem)
    netdev, client, conn = sc.netdev, sc.client, sc.conn  # binding lives as long as netdev
    client.sendall(bytes(n * payload))
    got = copied = 0
    while got < n * payload:
        if devmem:
            data, anc, _, _ = conn.recvmsg(1 << 20, 80_000, uapi.MSG_SOCK_DEVMEM)
            tokens = []
            for kind, cm in uapi.parse_cmsgs(anc):
                if kind == "linear":
                    copied += cm.frag_size
                else:
                    tokens.append(cm.frag_token)
            for i in range(0, len(tokens), uapi.MAX_DONTNEED_TOKENS):
                conn.setsockopt(
                    socket.SOL_SOCKET,
                    uapi.SO_DEVMEM_DONTNEED,
                    uapi.pack_tokens(tokens[i : i + uapi.MAX_DONTNEED_TOKENS]),
                )
        else:
            data = conn.recv(1 << 20)
            copied += len(data)
        got += len(data)
    stats = {
        k: int(v)
        for k, v in re.findall(r"^\s*(rx_\w+): (\d+)$", srv.ethtool("-S eth1"), re.MULTILINE)
    }
    if devmem:
        netdev.close()
    rx = stats["rx_packets"]
    return {
        "packets": rx,
        "nic_write_bytes": stats["rx_host_bytes"] / rx,
        "copy_write_bytes": copied / rx,
        "devmem_bytes": stats["rx_devmem_bytes"] / rx,
    }


def compare_with_emulator(packets: int = 200, mtu: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Model (:func:`per_packet_bytes`) next to the emulator (:func:`emulated_host_bytes`).

    Returns
    -------
    pandas.DataFrame
        Index ``path`` (``"copy"``, ``"devmem"``); columns ``model_nic_write_bytes``,
        ``emulated_nic_write_bytes``, ``model_copy_write_bytes``,
        ``emulated_copy_write_bytes`` (bytes per packet).
    """
    import pandas as pd

    model = per_packet_bytes(mtu)
    rows = {}
    for path in ("copy", "devmem"):
        emu = emulated_host_bytes(path, packets, mtu, seed)
        rows[path] = {
            "model_nic_write_bytes": model.loc[path, "nic_write_bytes"],
            "emulated_nic_write_bytes": emu["nic_write_bytes"],
            "model_copy_write_bytes": model.loc[path, "copy_write_bytes"],
            "emulated_copy_write_bytes": emu["copy_write_bytes"],
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("path")


# --------------------------------------------------------------------------- measuring
def _best_rate(fn, nbytes: int, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return nbytes / best / 1e9


def _tcp_loopback_GBps(total_bytes: int, chunk: int = 1 << 20, timeout_s: float = 20.0) -> float:
    """Send ``total_bytes`` over TCP on 127.0.0.1 and time the receiver's ``recv_into``."""
    payload = memoryview(bytearray(chunk))
    with socket.create_server(("127.0.0.1", 0)) as srv:
        srv.settimeout(timeout_s)
        port = srv.getsockname()[1]

        def sender() -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as c:
                left = total_bytes
                while left > 0:
                    n = min(left, chunk)
                    c.sendall(payload[:n])
                    left -= n

        th = threading.Thread(target=sender, daemon=True)
        th.start()
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(timeout_s)
            buf = memoryview(bytearray(chunk))
            got = 0
            t0 = time.perf_counter()
            while got < total_bytes:
                n = conn.recv_into(buf)
                if n == 0:
                    break
                got += n
            dt = time.perf_counter() - t0
        th.join(timeout_s)
    return got / dt / 1e9


def measure_copy_cost(
    nbytes: int = 64 << 20, repeats: int = 5, tcp_bytes: int = 256 << 20
) -> pd.DataFrame:
    """Measure what copying received bytes costs on this machine (one core).

    Three copies a receiver can do: ``numpy`` (``np.copyto``, a memcpy), ``bytes``
    (``bytes(memoryview)``, Python's own copy) and ``tcp loopback recv`` (``recv_into`` from
    a TCP socket on 127.0.0.1: the kernel's ``copy_to_user`` plus the stack). Buffers are
    larger than the LLC so the copies go through DRAM.

    Parameters
    ----------
    nbytes : int
        Buffer size for the memory copies (>= 1 MiB).
    repeats : int
        The best of ``repeats`` runs is reported.
    tcp_bytes : int
        Bytes sent over loopback TCP (0 skips that row).

    Returns
    -------
    pandas.DataFrame
        Index ``method``; columns ``copy_GBps`` (bytes copied per second),
        ``dram_GBps`` (about 2x: each copied byte is read once and written once) and
        ``ns_per_4KiB`` (time to copy one net_iov-sized page). Wall-clock numbers: they
        change from run to run and machine to machine.

    Raises
    ------
    ValueError
        ``nbytes`` below 1 MiB, ``repeats`` < 1 or negative ``tcp_bytes``.
    """
    import pandas as pd

    n = int(_number("nbytes", nbytes, minimum=1 << 20, integer=True))
    reps = int(_number("repeats", repeats, minimum=1, integer=True))
    tb = int(_number("tcp_bytes", tcp_bytes, minimum=0, integer=True))
    src = np.ones(n, dtype=np.uint8)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault the pages in
    mv = memoryview(src)
    rates = {
        "numpy copy": _best_rate(lambda: np.copyto(dst, src), n, reps),
        "bytes copy": _best_rate(lambda: bytes(mv), n, reps),
    }
    if tb:
        rates["tcp loopback recv"] = _tcp_loopback_GBps(tb)
    gbps = np.array(list(rates.values()))
    return pd.DataFrame(
        {"copy_GBps": gbps, "dram_GBps": 2 * gbps, "ns_per_4KiB": 4096 / gbps},
        index=pd.Index(list(rates), name="method"),
    )


# --------------------------------------------------------------------------- plotting
def plot_dram_vs_line_rate(sweep: pd.DataFrame, ax=None, ceilings: dict | None = None):
    """Plot host DRAM GB/s of each path against line rate, with DRAM peaks as lines.

    Parameters
    ----------
    sweep : DataFrame
        Output of :func:`traffic_vs_line_rate`.
    ax : matplotlib Axes, optional
    ceilings : dict, optional
        Label -> GB/s horizontal lines; default :data:`DRAM_PEAK_GBPS`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    colors = {"copy": "tab:red", "zerocopy": "tab:orange", "devmem": "tab:green"}
    x = sweep.index.to_numpy()
    for p in PATHS:
        ax.plot(x, sweep[f"{p}_dram_GBps"], color=colors[p], lw=2, label=p)
    for i, (label, gb) in enumerate((ceilings or DRAM_PEAK_GBPS).items()):
        ax.axhline(gb, color="0.3", ls=("--", ":", "-.")[i % 3], lw=1)
        # labelled at the right end, where only the devmem line runs (near the axis)
        ax.text(x[-1], gb, f"{label} peak ", ha="right", va="bottom", fontsize=8.5, color="0.3")
    ax.set_xlabel("line rate per NIC (Gb/s)")
    ax.set_ylabel("host DRAM traffic (GB/s)")
    ax.set_ylim(0, None)
    ax.legend(loc="upper left")
    return ax
