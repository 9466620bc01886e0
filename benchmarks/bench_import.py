"""How long `import devmem_lab` takes in a fresh interpreter (goal: under 0.5 s).

Prints the median of 5 runs, and the same for `import numpy` as the floor it stands on.
"""

import statistics
import subprocess
import sys
import time


def fresh(code: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


if __name__ == "__main__":
    base = fresh("pass")
    numpy = fresh("import numpy") - base
    lab = fresh("import devmem_lab; devmem_lab.Lab(seed=0)") - base
    print(f"interpreter start-up: {base:.3f} s (subtracted below)")
    print(f"import numpy:                         {numpy:.3f} s")
    print(f"import devmem_lab + Lab(seed=0):      {lab:.3f} s  (goal < 0.5 s: "
          f"{'met' if lab < 0.5 else 'NOT met'})")
