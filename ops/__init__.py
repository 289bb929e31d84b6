"""The op table of tape, installed as ``tape.ops``.

``tape.ops.table`` lists every primitive (id, grad_fn name, kernel body,
arity, VJP rule); ``tape.ops.kernels`` holds the numba sweep and the bodies;
``tape.ops.primitives`` the forwards and recording; ``tape.ops.functions`` the
public functions and composites. The op modules are imported by ``tape``
itself, after the engine, so import ``tape`` first.
"""
from . import kernels, table

__all__ = ["kernels", "table"]
