"""The grading kernel: an ipykernel whose address space is capped (``RLIMIT_AS``).

Emulator only (course tooling). ``python -m devmem_lab.teach.grade.kernel BYTES -f
CONNECTION_FILE`` sets ``RLIMIT_AS`` to ``BYTES`` (0: no limit) in this process, then runs
ipykernel as ``python -m ipykernel_launcher`` would. A submission that allocates past the
limit gets ``MemoryError`` (or the kernel dies, which the grader reports), instead of taking
the grading machine down. macOS does not enforce ``RLIMIT_AS``; the limit is then advisory.
"""

from __future__ import annotations

import sys


def limit_memory(nbytes: int) -> None:
    """Cap this process's address space at ``nbytes`` (no-op for 0 or where unsupported)."""
    if nbytes <= 0:
        return
    try:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            nbytes = min(nbytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (nbytes, hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover - Windows, odd limits
        pass


def main(argv: list[str]) -> None:
    limit_memory(int(argv[0]))
    from ipykernel.kernelapp import launch_new_instance

    launch_new_instance(argv=argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
