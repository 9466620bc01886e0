"""benchmarks/bench_tx.py runs end to end on a small transfer (speed is measured by the
script, never asserted here)."""

from __future__ import annotations

import json
import platform

import pytest
from bench_support import load_bench


def test_emulated_tx_delivers_the_dma_buf_bytes_reusing_regions():
    fig = load_bench("bench_tx").emulated(8 << 20, chunk=1 << 20, region=1 << 20, mtu=8264)
    assert fig["bytes"] == 8 << 20 and fig["payload_ok"] is True
    assert 0 < fig["virtual_gbps"] <= 100


@pytest.mark.skipif(platform.system() != "Linux", reason="MSG_ZEROCOPY over loopback is Linux")
def test_main_writes_the_figures(tmp_path):
    out = tmp_path / "tx.json"
    assert load_bench("bench_tx").main(["--bytes", "4M", "--repeat", "1", "--trace-bytes", "1M",
                              "--json", str(out)]) == 0
    fig = json.loads(out.read_text())
    assert fig["pairs"][0]["loopback"]["bytes"] == 4 << 20
    assert fig["median_ratio"] > 0 and fig["heap_peak_bytes"] > 0
