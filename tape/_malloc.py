"""glibc's malloc tuned for a tape that holds many medium arrays (Linux only; ``TAPE_MALLOC_TUNING=0`` opts out).

A recorded array value stays alive until the sweep that reads it: every array op
of a forward pass allocates fresh memory while the earlier values are still
held. With glibc's defaults an allocation above its mmap threshold (128 KiB at
first) is a fresh mapping, and memory freed at the top of the heap goes back to
the system past the trim threshold, so each iteration of a loop touches new
pages: a 200 x 200 multiply that numpy does in 13 us took 184 us while the
results were held (page faults). PyTorch avoids the same cost with its own
allocator. Raising both thresholds keeps arrays up to 4 MiB on the heap and up
to 64 MiB of freed memory in the process for reuse: measured on this machine,
bench/mlp_train's step went from 9.9-12 to 5.2-6.3 ms and bench/pinn's from
23.5-35 to 15-17 ms, with steady memory in bench/memory_loops unchanged and
bench/memory_per_op's RSS per op unchanged (48 B; with a 16 MiB mmap threshold
the tape's growing columns were copied on the heap instead of remapped: 66-73 B).
The settings are process-wide (mallopt), made once when tape is imported.
"""
from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 4 << 20
TRIM_THRESHOLD = 64 << 20


def tune() -> bool:
    """Set the thresholds; whether they were set (False off Linux/glibc, or where the user opted out)."""
    if os.environ.get("TAPE_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


TUNED = tune()
