"""Devmem TX speed: the emulated send-from-dma-buf path vs real loopback TCP MSG_ZEROCOPY.

Prints, from one run on this machine:

1. the emulated devmem TX path: a client bound with bind-tx to a ``--region-mib`` udmabuf
   cut into 4 regions sends ``--bytes`` with ``sendmsg([DmabufIov(offset, chunk)],
   [SCM_DEVMEM_DMABUF id], MSG_ZEROCOPY)`` of ``--chunk`` bytes, writing into a region only
   after its completion came back on the error queue (read with ``MSG_ERRQUEUE``); the server
   reads with ``recv_into`` one buffer. Reported: bytes per wall-clock second and virtual Gb/s,
   the payload checked on a sample of reads;
2. real loopback TCP on the same machine in the same run: a child process sends the same
   bytes from an mmap'd buffer of the same size with ``MSG_ZEROCOPY`` (``SO_ZEROCOPY`` on,
   the same region-reuse rule on its completions), this process ``recv_into`` the same way;
3. the ratio emulated / loopback (median of ``--repeat`` alternating pairs; goal >= 0.5x) and
   memory: peak RSS and the Python heap peak (``tracemalloc``) of an emulated transfer of
   ``--trace-bytes``.

Usage::

    python benchmarks/bench_tx.py                  # 256 MiB per side, about half a minute
    python benchmarks/bench_tx.py --bytes 64M      # quicker
    python benchmarks/bench_tx.py --json out.json  # also write the figures as JSON
"""

from __future__ import annotations

import argparse
import json
import mmap
import multiprocessing as mp
import resource
import select
import socket
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from devmem_lab import Lab, uapi
from devmem_lab.scenario import ncdevmem_tx

PORT = 5301
REGIONS = 4
ZC = uapi.MSG_ZEROCOPY
PATTERN = bytes(range(251))


def _size(text: str) -> int:
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * mult[text[-1].upper()] if text[-1].upper() in mult else int(text)


def _fill(buf, size: int) -> None:
    buf[:size] = (PATTERN * (size // len(PATTERN) + 1))[:size]


class Regions:
    """Which regions the sender may write: calls in flight per region, freed by completions."""

    def __init__(self) -> None:
        self.call_region: dict[int, int] = {}
        self.busy = [0] * REGIONS
        self.next_call = 0

    def take(self) -> int | None:
        for r in range(REGIONS):
            if not self.busy[r]:
                return r
        return None

    def sent(self, region: int) -> None:
        self.call_region[self.next_call] = region
        self.busy[region] += 1
        self.next_call += 1

    def completed(self, data: bytes) -> None:
        ee = uapi.SockExtendedErr.unpack(data)
        for call in ee.calls:
            self.busy[self.call_region.pop(call)] -= 1


def _read_completions(sock, regions: Regions) -> None:
    while True:
        try:
            _, anc, _, _ = sock.recvmsg(0, 128, uapi.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        for _level, _type, data in anc:
            regions.completed(data)


def emulated(total: int, chunk: int, region: int, mtu: int, check: bool = True) -> dict:
    lab = Lab(seed=0, mtu=mtu)
    sc = ncdevmem_tx(lab, size=REGIONS * region, port=PORT,
                     fill=lambda view: _fill(view, REGIONS * region))
    buf, nl, anc, cs, conn = sc.view, sc.netdev, sc.ancdata, sc.client, sc.conn
    conn.setblocking(False)
    rbuf = bytearray(4 << 20)
    regions = Regions()
    sent = received = reads = 0
    order: list[int] = []  # the region each chunk of the stream was sent from
    ok = True
    t0 = time.perf_counter()
    while received < total:
        if sent < total and (r := regions.take()) is not None:
            n = min(chunk, total - sent)
            cs.sendmsg([uapi.DmabufIov(r * region, n)], anc, ZC)
            regions.sent(r)
            order.append(r)
            sent += n
            continue
        try:
            got = conn.recv_into(rbuf)
        except BlockingIOError:
            lab.run(20e-6)
            _read_completions(cs, regions)
            continue
        if check and reads % 64 == 0 and got:
            # compare with the region this part of the stream was sent from
            at = order[received // chunk] * region + received % chunk
            src = bytes(buf[at:at + min(got, chunk - received % chunk)])
            ok &= bytes(rbuf[:len(src)]) == src
        received += got
        reads += 1
        _read_completions(cs, regions)
    wall = time.perf_counter() - t0
    nl.close()
    return {"bytes": total, "wall_s": wall, "MBps": total / wall / 1e6,
            "virtual_gbps": total * 8 / lab.now / 1e9, "payload_ok": bool(ok)}


def _real_sender(port: int, total: int, chunk: int, region: int, ready) -> None:
    buf = mmap.mmap(-1, REGIONS * region)
    _fill(buf, REGIONS * region)
    view = memoryview(buf)
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, uapi.SO_ZEROCOPY, 1)
    regions = Regions()
    poller = select.poll()
    poller.register(s, select.POLLERR)
    sent = 0
    ready.wait()
    while sent < total:
        r = regions.take()
        if r is None:
            poller.poll(1000)  # POLLERR: a completion is on the error queue
            _read_completions(s, regions)
            continue
        n = min(chunk, total - sent)
        done = 0
        while done < n:
            done += s.sendmsg([view[r * region + done:r * region + n]], [], ZC)
        regions.sent(r)
        sent += n
        _read_completions(s, regions)
    s.close()


def real(total: int, chunk: int, region: int) -> dict:
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen()
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    p = ctx.Process(target=_real_sender, args=(ls.getsockname()[1], total, chunk, region, ready))
    p.start()
    conn, _ = ls.accept()
    rbuf = bytearray(4 << 20)
    received = 0
    t0 = time.perf_counter()
    ready.set()
    while received < total:
        got = conn.recv_into(rbuf)
        if not got:
            break
        received += got
    wall = time.perf_counter() - t0
    p.join()
    conn.close()
    ls.close()
    return {"bytes": received, "wall_s": wall, "MBps": received / wall / 1e6}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bytes", default="256M")
    ap.add_argument("--chunk", default="1M", help="bytes per sendmsg (one region)")
    ap.add_argument("--mtu", type=int, default=8264)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--trace-bytes", default="32M")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    total, chunk = _size(args.bytes), _size(args.chunk)
    region = chunk
    pairs = []
    for i in range(args.repeat):
        e = emulated(total, chunk, region, args.mtu)
        k = real(total, chunk, region)
        pairs.append((e, k, e["MBps"] / k["MBps"]))
        print(f"pair {i + 1}: emulated devmem TX {e['MBps']:8.1f} MB/s "
              f"({e['virtual_gbps']:.1f} Gb/s virtual, payload ok: {e['payload_ok']}) | "
              f"loopback MSG_ZEROCOPY {k['MBps']:8.1f} MB/s | ratio {pairs[-1][2]:.2f}x")
    ratio = statistics.median(p[2] for p in pairs)
    heap_peak = 0
    if _size(args.trace_bytes):  # 0: no tracemalloc run
        tracemalloc.start()
        emulated(_size(args.trace_bytes), chunk, region, args.mtu, check=False)
        _, heap_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if sys.platform == "darwin":
        rss //= 1024  # ru_maxrss is bytes there
    print(f"median ratio emulated / loopback: {ratio:.2f}x (goal >= 0.5x)")
    print(f"peak RSS {rss / 2**20:.0f} MiB" + (
        f"; Python heap peak of a {args.trace_bytes} emulated transfer "
        f"{heap_peak / 2**20:.1f} MiB" if heap_peak else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "pairs": [{"emulated": e, "loopback": k, "ratio": r} for e, k, r in pairs],
            "median_ratio": ratio, "peak_rss_bytes": rss, "heap_peak_bytes": heap_peak,
            "args": vars(args)}, indent=1))
    return 0 if all(p[0]["payload_ok"] for p in pairs) else 1


if __name__ == "__main__":
    sys.exit(main())
