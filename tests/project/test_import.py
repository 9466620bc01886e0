"""`import devmem_lab` stays light: heavy libraries load only when a feature needs them.

(The import time itself is measured by benchmarks/bench_import.py, not asserted here.)
"""

import subprocess
import sys


def test_import_does_not_load_pandas_matplotlib_or_ipywidgets():
    code = ("import sys, devmem_lab; from devmem_lab import Lab; Lab(seed=0);"
            "print(sorted(m for m in ('pandas', 'matplotlib', 'ipywidgets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lazy_attributes_resolve():
    import devmem_lab
    assert devmem_lab.uapi.SO_DEVMEM_DONTNEED == 80
    assert callable(devmem_lab.exhaustion.simulate)
