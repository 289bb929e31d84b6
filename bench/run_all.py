"""Run every benchmark script in sequence and print all their tables.

Options are passed through to each script: ``--quick`` (smoke run) and
``--rounds N``. ``--only a,b`` limits the run to some scripts (names without
``.py``).

Run: python bench/run_all.py [--quick] [--rounds N] [--only scalar_loop,poly100]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = ["scalar_loop", "poly100", "big_elementwise", "mlp_train", "memory_per_op", "startup",
           "pinn", "hessian_rosenbrock", "scalar_hessian",
           "replay_scalar_loop", "cheap_gradient", "rosenbrock_repeat", "nn_train", "cumsum", "gp_likelihood",
           "small_linalg"]


def main(argv: list[str] | None = None) -> int:
    """Run the scripts one after another; return 1 if any of them crashed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run of every script")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved runs per system")
    parser.add_argument("--only", help="comma-separated script names")
    args = parser.parse_args(argv)
    scripts = args.only.split(",") if args.only else SCRIPTS
    passthrough = (["--quick"] if args.quick else []) + ["--rounds", str(args.rounds)]
    crashed = []
    start = time.perf_counter()
    for name in scripts:
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, os.path.join(BENCH_DIR, f"{name}.py")] + passthrough)
        print(f"({name}: {time.perf_counter() - t0:.1f} s)", flush=True)
        if rc != 0:
            crashed.append(name)
    print(f"\nall benchmarks: {time.perf_counter() - start:.1f} s"
          + (f"; crashed: {', '.join(crashed)}" if crashed else ""))
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
