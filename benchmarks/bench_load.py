"""Load test: a long devmem transfer through the emulator with a slow consumer, vs real TCP.

Prints, from one run on this machine:

1. the emulated devmem receive path: ``--bytes`` (default 1 GiB of virtual transfer) from an
   emulated client to a server reading with ``recvmsg_into(..., MSG_SOCK_DEVMEM)`` into one
   ``--bufsize`` buffer (ncdevmem's 800 KiB iov), "processing" each read for ``--think-us`` of
   virtual time (100 us per read: at most ~65 Gb/s, slower than the 100 Gb/s link) and
   returning tokens late (it holds ``--hold`` fragments, then returns the oldest 1024 in one
   ``SO_DEVMEM_DONTNEED``). The consumer is lean, as a C receiver would be (cmsgs read as an
   array; the ``uapi`` helpers and the payload are checked on every 64th read). The link's
   MTU is 8264: 8 KiB payloads over IPv6, the set-up of the devmem RFC's measurement (MTU
   8244 over IPv4, data/figures.csv). Reported: bytes delivered per wall-clock second,
   virtual Gb/s, drops and retransmissions, and the payload checked against the sent pattern
   on a sample of fragments;
2. real loopback TCP receive on the same machine in the same run: a sender process writes the
   same number of bytes to 127.0.0.1, this process ``recv_into`` a bytearray of the same size.
   The two alternate (``--repeat`` pairs): a shared machine's speed drifts, and a pair sees
   one state of it;
3. the ratio emulated / loopback, the median of the pairs' ratios (goal >= 0.5x), and
   memory: the process's peak RSS and the Python heap peak (``tracemalloc``) of an emulated
   transfer of ``--trace-bytes`` (tracemalloc slows allocation, so it gets a run of its own);
4. the same transfer in two harder set-ups, for information: MTU 1500 (a net_iov per 1428-byte
   payload, 5.7x the packets and cmsgs), and MTU 1500 with a consumer that holds 3840 of the
   4096 net_iovs, so the pool runs dry and the NIC drops (``--no-extra`` skips them).

Receive buffer: the server's ``sk_rcvbuf`` is ``--rcvbuf`` (``SO_RCVBUF`` of half on the
listener, which the kernel doubles; within ``net.core.rmem_max``). The default, 580,000 bytes,
opens a window of 64 segments (512 KiB: each 8 KiB segment is charged 2 net_iovs + an 832-byte
head, 9024 bytes), the window the lab had before it charged truesize, so the workload is the
one this benchmark has always measured: one 64-segment flight per read. The kernel
charges each frag its whole net_iov, and tokens the consumer holds are not charged at all, so
with the default buffer autotuning grows the window to ``tcp_rmem[2]`` (32 MiB), past what a
16 MiB dma-buf can hold beside 2048 held frags: the NIC drops and TCP retransmits
(``--rcvbuf 0`` measures that).

``--profile`` adds a cProfile of the emulated run (``--profile-bytes`` of it) with the top
functions by own time, the datapath hotspots.

Usage::

    python benchmarks/bench_load.py                       # 1 GiB, about half a minute
    python benchmarks/bench_load.py --bytes 64M --profile # quick look plus hotspots
    python benchmarks/bench_load.py --mtu 1500 --no-extra # another set-up
    python benchmarks/bench_load.py --json out.json       # also write the figures as JSON
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import multiprocessing as mp
import pstats
import resource
import socket
import sys
import time
import tracemalloc
from pathlib import Path

# run from a checkout without installing: the repository root on the path
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np

from devmem_lab import Lab, uapi
from devmem_lab.scenario import ncdevmem_rx
from devmem_lab.uapi import pack_tokens, parse_cmsgs

PORT = 5201
QUEUE = 15
SOL, DONTNEED, DEVMEM = socket.SOL_SOCKET, uapi.SO_DEVMEM_DONTNEED, uapi.MSG_SOCK_DEVMEM
CHUNK = 1 << 20  # the sender hands the socket 1 MiB at a time
CMSG = np.dtype([("frag_offset", "=u8"), ("frag_size", "=u4"), ("frag_token", "=u4"),
                 ("dmabuf_id", "=u4"), ("flags", "=u4")])  # struct dmabuf_cmsg, as an array
PATTERN = bytes(range(251)) * (CHUNK // 251 + 2)  # period 251: offsets are checkable


def token_ranges(tokens: np.ndarray) -> bytes:
    """``struct dmabuf_token`` ranges of consecutive tokens (a vectorised ``uapi.pack_tokens``)."""
    breaks = np.flatnonzero(np.diff(tokens) != 1) + 1
    starts = np.concatenate([[0], breaks])
    counts = np.diff(np.concatenate([starts, [len(tokens)]]))
    return np.stack([tokens[starts], counts], axis=1).astype("=u4").tobytes()


def parse_size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower().removesuffix("ib").removesuffix("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


# ---- 1. the emulated devmem path ------------------------------------------------------------
def emulated(total: int, *, think_us: float, hold: int, pool_pages: int, bufsize: int,
             mtu: int = 1500, verify_every: int = 64, rcvbuf: int = 0) -> dict:
    """Move ``total`` bytes through a steered devmem flow; returns the figures.

    ``rcvbuf``: the server's ``sk_rcvbuf`` in bytes (0: the kernel's default, autotuned)."""
    lab = Lab(seed=0, mtu=mtu)
    sc = ncdevmem_rx(lab, queue=QUEUE, pages=pool_pages, port=PORT,
                     rcvbuf=rcvbuf // 2 if rcvbuf else None)
    binding, cs, conn = sc.binding, sc.client, sc.conn

    sent = received = reads = checked = 0
    held: list[np.ndarray] = []
    nheld = 0
    think_s = think_us * 1e-6
    ancbufsize = socket.CMSG_SPACE(uapi.DMABUF_CMSG_SIZE) * (bufsize // 1000 + 4)
    iobuf = bytearray(bufsize)  # gets only linear bytes (none at hds-thresh 0), as in ncdevmem
    view = memoryview(PATTERN)
    t0 = time.perf_counter()
    while received < total:
        # keep the sender's queue topped up without ever holding the whole transfer
        while sent < total and cs.write_seq - cs.snd_una < 4 * CHUNK:
            n = min(CHUNK, total - sent)
            start = sent % 251
            cs.sendall(view[start:start + n])
            sent += n
        nbytes, anc, _, _ = conn.recvmsg_into([iobuf], ancbufsize, DEVMEM)
        if not nbytes:
            raise RuntimeError("EOF before the transfer finished")
        reads += 1
        if reads % verify_every == 0:  # the public helpers, and the payload, on a sample
            pos = received
            for _, cm in parse_cmsgs(anc):
                got = binding.dmabuf.read(cm.frag_offset, cm.frag_size)
                if got != PATTERN[pos % 251:pos % 251 + cm.frag_size]:
                    raise AssertionError(f"payload differs at stream offset {pos}")
                pos += cm.frag_size
                checked += cm.frag_size
        received += nbytes
        # every cmsg is a struct dmabuf_cmsg here: read them the way a C receiver would
        held.append(np.frombuffer(b"".join([c[2] for c in anc]), dtype=CMSG)["frag_token"])
        nheld += len(held[-1])
        if think_s:
            lab.run(think_s)  # the consumer works on the data meanwhile
        while nheld > hold:  # late return: the oldest fragments, 1024 per call
            oldest = np.concatenate(held)
            held = [oldest[1024:]]
            nheld = len(held[0])
            conn.setsockopt(SOL, DONTNEED, token_ranges(oldest[:1024]))
    wall = time.perf_counter() - t0
    rest = np.concatenate(held).tolist() if held else []
    for i in range(0, len(rest), 128):
        conn.setsockopt(SOL, DONTNEED, pack_tokens(rest[i:i + 128]))
    if anc and any(c[1] != uapi.SCM_DEVMEM_DMABUF for c in anc):
        raise AssertionError("expected only dmabuf fragments (header split at hds-thresh 0)")
    q = sc.rxq
    figures = {
        "bytes": received, "wall_s": wall, "MBps": received / wall / 1e6,
        "virtual_s": lab.now, "virtual_Gbps": received * 8 / lab.now / 1e9,
        "reads": reads, "rx_packets": q.stats.packets, "rx_alloc_fail": q.stats.alloc_fail,
        "retransmits": cs.retransmits, "bytes_checked": checked,
        # all back but the net_iovs the rx ring keeps posted (devmem_lab/kernel/nic/ring.py)
        "pool_back": binding.free_count + binding.posted_count == binding.num_niovs,
    }
    sc.close()  # the sockets, the netlink socket (unbinds) and the dma-buf fd
    return figures


# ---- 2. real loopback TCP --------------------------------------------------------------------
def _loopback_sender(port: int, total: int) -> None:
    buf = memoryview(PATTERN[:CHUNK])
    with socket.create_connection(("127.0.0.1", port)) as s:
        left = total
        while left:
            n = min(CHUNK, left)
            s.sendall(buf[:n])
            left -= n


def loopback(total: int, bufsize: int) -> dict:
    """Receive ``total`` bytes over real TCP on 127.0.0.1 from a sender process."""
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        sender = mp.get_context("spawn").Process(target=_loopback_sender,
                                                 args=(ls.getsockname()[1], total))
        sender.start()
        conn, _ = ls.accept()
    buf = bytearray(bufsize)
    got = 0
    with conn:
        t0 = time.perf_counter()
        while got < total:
            n = conn.recv_into(buf)
            if not n:
                break
            got += n
        wall = time.perf_counter() - t0
    sender.join()
    return {"bytes": got, "wall_s": wall, "MBps": got / wall / 1e6}


# ---- 3. memory and profile -------------------------------------------------------------------
def python_peak(total: int, **kw) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        emulated(total, **kw)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def profile(total: int, top: int, **kw) -> str:
    prof = cProfile.Profile()
    prof.enable()
    emulated(total, **kw)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue()


def _median(runs: list[dict]) -> dict:
    return sorted(runs, key=lambda r: r["MBps"])[len(runs) // 2]


def _describe(emu: dict) -> str:
    return (f"{emu['MBps']:8.1f} MB/s wall ({emu['wall_s']:.2f} s), "
            f"{emu['virtual_Gbps']:.1f} Gb/s virtual over {emu['virtual_s']:.3f} s; "
            f"{emu['rx_packets']:,} packets, {emu['rx_alloc_fail']:,} dropped for lack of a "
            f"net_iov, {emu['retransmits']:,} retransmissions; "
            f"{emu['bytes_checked'] / 2**20:,.1f} MiB payload checked; pool back: "
            f"{emu['pool_back']}")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bytes", type=parse_size, default=1 << 30,
                    help="virtual transfer size (default 1G; accepts k/M/G)")
    ap.add_argument("--think-us", type=float, default=100.0,
                    help="virtual microseconds the consumer spends per read (default 100)")
    ap.add_argument("--hold", type=int, default=2048,
                    help="fragments held before returning the oldest (default 2048)")
    ap.add_argument("--pool-pages", type=int, default=4096,
                    help="dma-buf size in 4 KiB net_iovs (default 4096 = 16 MiB)")
    ap.add_argument("--bufsize", type=int, default=819200,
                    help="recvmsg iov size (default 819200, ncdevmem's)")
    ap.add_argument("--mtu", type=int, default=8264,
                    help="MTU of the emulated link (default 8264: 8 KiB payloads; 4168 gives "
                         "4 KiB payloads, 1500 the usual Ethernet)")
    ap.add_argument("--rcvbuf", type=parse_size, default=580_000,
                    help="the server's sk_rcvbuf (default 580000: a 64-segment window; 0: the "
                         "kernel's autotuned default)")
    ap.add_argument("--repeat", type=int, default=5,
                    help="emulated/loopback pairs; the median ratio is reported (default 5)")
    ap.add_argument("--loopback-bytes", type=parse_size, default=None,
                    help="bytes for the loopback run (default: same as --bytes)")
    ap.add_argument("--trace-bytes", type=parse_size, default=128 << 20,
                    help="transfer size of the tracemalloc run (default 128M; 0: skip)")
    ap.add_argument("--no-extra", action="store_true",
                    help="skip the MTU 1500 and pool-exhaustion runs")
    ap.add_argument("--profile", action="store_true", help="cProfile the emulated path")
    ap.add_argument("--profile-bytes", type=parse_size, default=64 << 20)
    ap.add_argument("--top", type=int, default=20, help="functions listed by --profile")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args(argv)
    kw = {"think_us": args.think_us, "hold": args.hold, "pool_pages": args.pool_pages,
          "bufsize": args.bufsize, "mtu": args.mtu, "rcvbuf": args.rcvbuf}

    lb_bytes = args.loopback_bytes or args.bytes
    print(f"1. emulated devmem receive: {args.bytes / 2**20:,.0f} MiB virtual, consumer "
          f"thinks {args.think_us:g} us per {args.bufsize // 1024} KiB read, holds "
          f"{args.hold} fragments, {args.pool_pages} net_iovs, MTU {args.mtu}")
    print(f"2. real loopback TCP receive: {lb_bytes / 2**20:,.0f} MiB, recv_into "
          f"{args.bufsize // 1024} KiB")
    print(f"   {args.repeat} pairs, each an emulated run then a loopback run, so that both "
          "see the machine in the same state", flush=True)
    pairs = []
    for i in range(args.repeat):
        e, lb = emulated(args.bytes, **kw), loopback(lb_bytes, args.bufsize)
        pairs.append((e["MBps"] / lb["MBps"], e, lb))
        print(f"   pair {i + 1}: emulated {e['MBps']:8.1f} MB/s, loopback {lb['MBps']:8.1f} "
              f"MB/s, ratio {pairs[-1][0]:.3f}x", flush=True)
    emu = _median([p[1] for p in pairs])
    lb = _median([p[2] for p in pairs])
    ratio = sorted(p[0] for p in pairs)[len(pairs) // 2]
    print(f"   emulated (median): {_describe(emu)}")
    print(f"   loopback (median): {lb['MBps']:8.1f} MB/s ({lb['wall_s']:.2f} s)")
    print(f"3. emulated / loopback = {ratio:.3f}x, the median of the pairs' ratios (goal >= "
          f"0.5x: {'met' if ratio >= 0.5 else 'NOT met'}; range "
          f"{min(p[0] for p in pairs):.3f}-{max(p[0] for p in pairs):.3f}x)")
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"   peak RSS of this process: {peak_rss / 2**20:,.1f} MiB")
    figures = {"emulated": emu, "loopback": lb, "ratio": ratio,
               "pair_ratios": [p[0] for p in pairs], "peak_rss_bytes": peak_rss,
               "args": {k: v for k, v in vars(args).items() if k != "json"}}
    if args.trace_bytes:
        peak = python_peak(args.trace_bytes, **kw)
        figures["tracemalloc_peak_bytes"] = peak
        print(f"   Python heap peak (tracemalloc) over a {args.trace_bytes / 2**20:,.0f} MiB "
              f"transfer: {peak / 2**20:,.1f} MiB")
    if not args.no_extra:
        print("4. harder set-ups, once each (ratio to the median loopback figure)")
        extra = {"mtu1500": {**kw, "mtu": 1500},
                 "mtu1500_pool_dry": {**kw, "mtu": 1500, "hold": 3840}}
        for name, ekw in extra.items():
            e = emulated(args.bytes, **ekw)
            e["ratio"] = e["MBps"] / lb["MBps"]
            figures[name] = e
            print(f"   {name}: {e['ratio']:.3f}x  {_describe(e)}", flush=True)
    if args.profile:
        text = profile(args.profile_bytes, args.top, **kw)
        figures["profile"] = text
        print(f"5. cProfile, {args.profile_bytes / 2**20:,.0f} MiB, top {args.top} by own time")
        print(text)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    return figures


if __name__ == "__main__":
    main()
