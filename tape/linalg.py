"""``tape.linalg``: PyTorch's ``torch.linalg`` on tape.

Norms and products are compositions of tape's own ops (their derivatives come
from those ops, to any order). Factorisations and solves are records of the
LAPACK family (``ops/lapack.py``): their forward and first-order VJP run on
LAPACK and BLAS from numba kernels (numpy's own OpenBLAS, see
docs/ARCHITECTURE.md), so a replay of a compiled function runs them with no
Python per record.
"""
from __future__ import annotations

# ---- norms and products (compositions of tape's ops) -------------------------------


# ---- factorisations and solves (the LAPACK family) ----------------------------------
