"""The op table of tape, installed as ``tape.ops``.

``tape.ops.elementwise`` declares every elementwise op once (``tape.ops.codegen``
writes their numba side into ``tape.ops.kernels``); ``tape.ops.primitives``
records them and holds the helpers the families share; each hand-written
family has one module holding its ops' rows, forwards and VJP rules, and below
them its numba bodies (``tape.ops.shape``, ``reduce``, ``linalg``, ``softmax``);
``tape.ops.table`` lists the rows (id, grad_fn name, family, body, arity, VJP
rule); ``tape.ops.functions`` holds the public functions and composites. Importing
this package fills the engine's registry (tape/_registry.py): the engine reads
the table and the kernels from there and never imports ``tape.ops``.
"""
import os

from tape import _registry

# the families in the order of their op ids (register() numbers rows as it is called; primitives
# registers the elementwise rows and imports shape and reduce below them)
from . import _declare, _numba, kernels, primitives, shape, reduce, linalg, softmax, lapack, table

_registry.kernels = kernels
_registry.host_matmul = linalg.HOST_MATMUL
_numba.check_units(kernels._needs_unit)  # every family a core sends to a unit has one (registered as imported)
# the family numbers the kernels were compiled with must be the registry's (a stale generated section)
_stale = [f.name for f in _registry.Family if getattr(kernels, "FAMILY_" + f.name, None) != int(f)]
_stale += [d.key for d in _declare.DECLARED.values()
           if getattr(kernels, ("U_" if d.arity == 1 else "BIN_") + d.key.upper(), None) != d.code]
if _stale and not os.environ.get("TAPE_CODEGEN"):  # set by ops/codegen.py, which rewrites the section
    raise ImportError(f"ops/kernels.py is stale against the declarations ({', '.join(_stale)}): "
                      "run python ops/codegen.py")

__all__ = ["kernels", "lapack", "linalg", "primitives", "reduce", "shape", "softmax", "table"]
