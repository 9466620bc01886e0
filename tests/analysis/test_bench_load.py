"""benchmarks/bench_load.py runs end to end on a small transfer (its figures are not asserted:
speed goals are measured by the script, never by a test)."""

from __future__ import annotations

import json

from bench_support import load_bench


def test_emulated_transfer_delivers_everything_and_returns_the_pool():
    bench = load_bench("bench_load")
    total = 8 << 20
    for mtu, hold in ((8264, 2048), (1500, 3840)):  # the reference set-up, then a dry pool
        fig = bench.emulated(total, think_us=100, hold=hold, pool_pages=4096, bufsize=819200,
                             mtu=mtu, verify_every=4)
        assert fig["bytes"] == total
        assert fig["pool_back"] is True
        assert fig["bytes_checked"] > 0  # payload compared with what was sent
        assert fig["rx_packets"] >= total // (mtu - 72)
        if hold == 3840:
            # every dropped byte comes again (bytes == total above); a retransmission may
            # merge short segments into one, so the counts need not match one for one
            assert fig["rx_alloc_fail"] > 0 and fig["retransmits"] > 0


def test_main_writes_the_figures(tmp_path):
    bench = load_bench("bench_load")
    out = tmp_path / "load.json"
    fig = bench.main(["--bytes", "4M", "--repeat", "1", "--no-extra", "--trace-bytes", "1M",
                      "--json", str(out)])
    saved = json.loads(out.read_text())
    assert saved["emulated"]["bytes"] == 4 << 20 == saved["loopback"]["bytes"]
    assert saved["ratio"] == fig["ratio"] > 0
    assert saved["tracemalloc_peak_bytes"] > 0 and saved["peak_rss_bytes"] > 0


def test_compare_revisions_alternates_two_trees_and_writes_the_rounds(tmp_path):
    bench = load_bench("compare_revisions")
    out = tmp_path / "cmp.json"
    repo = str(bench.REPO)
    res = bench.main([repo, repo, "--rounds", "2", "--bytes", "2M", "--json", str(out)])
    saved = json.loads(out.read_text())
    assert [sorted(r) for r in saved["rounds"]] == [["after", "before"]] * 2
    assert saved["median_after_over_before"] == res["median_after_over_before"] > 0
