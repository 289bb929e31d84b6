"""How tape compiles its numba kernels: decorators, the on-disk cache, and compilation units.

**Units.** numba compiles a kernel together with every kernel it calls: the
callee's code is linked into the caller's module, which LLVM then optimises and
turns into machine code again, at every level of the call tree. Compiled that
way, the sweep's family bodies went through LLVM three or four times, and the
first gradient of any array function compiled every family (structural ops,
reductions, matrix products, softmax) whether it used them or not.

So a kernel (the sweep, the re-taping kernel, the forward replay: the *cores*)
reaches a family's body through a **unit**: a kernel of its own, compiled and
cached on its own, called through its address (``unit_caller``) instead of being
linked in. A core finds the address of each op's unit in its op-table row
(``kinds[op, COLUMN[kind]]``); 0 there means "not compiled in this process", and
the core then pauses at that record, before it does anything of it, with the
status ``NEED_UNIT - n``; Python compiles the unit (``ensure_units``) and
resumes the core at record n. A family is compiled the first time a core meets
one of its records, once per machine (numba's cache); a core that meets none
pays nothing for the check but one table read per record it sends to a unit.

A unit's arguments are the core's *head* (a tuple of the core's own arguments)
and a few int64s. The head's numba type is fixed per kind (``HEADS``): the call
site checks it while the core is compiled, so a core can never call a unit
compiled for other types (that would read memory wrongly); it fails to compile
with a message instead.

**The cache.** Kernels are compiled with ``cache=True``. numba keys a cached
kernel on its own source file only, so a kernel would keep running a stale copy
of an edited helper from another file. Every kernel here is keyed instead on
all the kernel files together (``KERNEL_FILES``): an edit to any of them
recompiles every kernel (tests/test_codegen.py checks it).
"""
from __future__ import annotations

import hashlib
import json
import os
import select
import subprocess
import sys
import threading

import numpy as np
from numba import njit, types
from numba.core import cgutils, errors
from numba.extending import intrinsic

_HERE = os.path.dirname(os.path.abspath(__file__))

# every module of ops/ that defines numba kernels (tests/test_codegen.py checks that none is missing)
KERNEL_FILES = ("_numba.py", "kernels.py", "shape.py", "reduce.py", "linalg.py", "softmax.py", "lapack.py")


def _domain_stamp() -> bytes:
    digest = hashlib.sha256()
    for name in KERNEL_FILES:
        path = os.path.join(_HERE, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                digest.update(name.encode() + b"\0" + f.read())
    return digest.digest()


STAMP = _domain_stamp()


class _Unliteral:
    """Mixin for a kernel's dispatcher: calls from other kernels are typed with plain argument types, and
    the external functions (``jit_external``) are bound before it compiles or loads from the cache.

    numba types a constant argument of a call between kernels as a literal
    (``Literal[int](0)``, ``Literal[bool](True)``) and compiles the callee once
    more for every distinct constant it is called with: a whole compile (and
    cache entry) each. Typed with the plain types, every kernel compiles once
    (measured: the cold compile of all kernels 97 -> 64 s)."""

    def get_call_template(self, args, kws):
        args = tuple(types.unliteral(a) for a in args)
        kws = {k: types.unliteral(v) for k, v in kws.items()}
        return super().get_call_template(args, kws)

    def compile(self, sig):
        if not _BOUND:
            bind_externals()
        return super().compile(sig)


_UNLITERAL_CLASSES: dict = {}


def _unliteral(dispatcher):
    cls = type(dispatcher)
    if not hasattr(cls, "get_call_template"):  # numba's internals moved: keep its literal specialisation
        return dispatcher
    if cls not in _UNLITERAL_CLASSES:
        _UNLITERAL_CLASSES[cls] = type("Unliteral" + cls.__name__, (_Unliteral, cls), {})
    dispatcher.__class__ = _UNLITERAL_CLASSES[cls]
    return dispatcher


def _stamped(dispatcher) -> bool:
    """Key the dispatcher's cache on all the kernel files (see the module docstring); False where numba's
    internals moved and the stamp cannot be set."""
    cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    if cache_file is None or not hasattr(cache_file, "_source_stamp"):
        return False
    cache_file._source_stamp = STAMP
    return True


def _njit(fn, **options):
    """njit with numba's on-disk cache keyed on all the kernel files, or without a cache.

    Without: where no cache location is writable (numba raises "no locator
    available" at decoration time for a read-only install) and where the shared
    key cannot be set (a stale kernel could then be loaded); the kernels then
    compile in memory on each run."""
    options.update(nogil=True, error_model="numpy")  # IEEE results (inf, nan) for x/0, as numpy and PyTorch give
    try:
        dispatcher = njit(cache=True, **options)(fn)
    except RuntimeError:
        return njit(**options)(fn)
    return dispatcher if _stamped(dispatcher) else njit(**options)(fn)


def jit(fn):
    """A kernel other kernels call: compiled once, whatever constants they call it with, and with no
    wrapper for calls from Python (numba builds one per kernel otherwise: about a sixth of the cold
    compile went into wrappers nothing used)."""
    return _unliteral(_njit(fn, no_cpython_wrapper=True, no_cfunc_wrapper=True))


def jit_entry(fn):
    """A kernel Python calls (the cores, and a few helpers of the tape)."""
    return _unliteral(_njit(fn))


def jit_literal(fn):
    """A kernel compiled once per distinct constant argument (numba's literal specialisation): for the
    elementwise VJP loops, where a constant ``side`` or ``replace`` gives simpler loops (array replay and
    sweeps measured ~20% slower without it)."""
    return _njit(fn, no_cpython_wrapper=True, no_cfunc_wrapper=True)


def jit_inline(fn):
    """``jit`` for small helpers and one-caller kernels, inlined into their callers at numba's IR level
    (a plain call to the per-element helpers costs about three times the arithmetic they do; a kernel
    called from one place compiles again inside its caller anyway)."""
    return _njit(fn, inline="always")


# ---- external functions: kernels compiled once and called by symbol ---------------------
# A kernel that calls another numba function links the callee's code into its own module, where LLVM optimises
# and emits it again, and the call (numba's calling convention, with its error status) keeps LLVM from
# optimising the loop around it. An *external* function is compiled once, on its own, and called through its C
# wrapper by symbol name, declared readnone and nounwind: a pure function of numbers, which the loop around
# it can ignore when it does not take that branch. The symbols are bound (llvmlite's symbol table) before any
# kernel compiles or loads from the cache, as the LAPACK symbols are (ops/lapack.py); a cached kernel refers
# to them by name. Used for the per-element switches of the elementwise ops not declared hot (ops/codegen.py).
_EXTERNALS: list = []  # (symbol, dispatcher, argument types)
_BOUND = False


def jit_external(symbol: str, nargs: int):
    """Decorator: a function of an int64 code and ``nargs - 1`` float64s returning a float64, compiled once
    on its own; returns the intrinsic kernels call it through (by ``symbol``)."""
    from llvmlite import ir

    def decorate(fn):
        dispatcher = _njit(fn, no_cpython_wrapper=True)
        argtypes = (types.int64,) + (types.float64,) * (nargs - 1)
        _EXTERNALS.append((symbol, dispatcher, argtypes))

        def codegen(context, builder, signature, args):
            fnty = ir.FunctionType(ir.DoubleType(), [ir.IntType(64)] + [ir.DoubleType()] * (nargs - 1))
            function = cgutils.get_or_insert_function(builder.module, fnty, symbol)
            function.attributes.add("readnone")
            function.attributes.add("nounwind")
            return builder.call(function, args)

        signature = types.float64(*argtypes)
        # an intrinsic's typing function takes its arguments by name: one per arity
        typers = {
            3: lambda typingctx, code, a, b: (signature, codegen),
            4: lambda typingctx, code, a, b, c: (signature, codegen),
            5: lambda typingctx, code, a, b, c, d: (signature, codegen),
            6: lambda typingctx, code, a, b, c, d, e: (signature, codegen),
        }
        typer = typers[nargs]
        typer.__name__ = fn.__name__
        return intrinsic(typer)
    return decorate


_BIND_LOCK = threading.RLock()
_BINDING = False  # this process is binding them now (the helpers they call compile meanwhile)


def bind_externals() -> None:
    """Compile (or load from numba's cache) every external function and bind its symbol, once a process.
    Another thread that needs them waits until all are bound."""
    global _BOUND, _BINDING
    if _BOUND:
        return
    with _BIND_LOCK:
        if _BOUND or _BINDING:
            return
        _BINDING = True
        try:
            import llvmlite.binding as llb
            for symbol, dispatcher, argtypes in _EXTERNALS:
                dispatcher.compile(argtypes)
                result = dispatcher.overloads[argtypes]
                address = result.library.get_pointer_to_function(result.fndesc.llvm_cfunc_wrapper_name)
                if not address:  # pragma: no cover - numba's internals moved
                    raise RuntimeError(f"tape: numba gave no address for the external function {symbol}")
                llb.add_symbol(symbol, address)
        finally:
            _BINDING = False
        _BOUND = True


def cache_is_warm(kernel) -> bool:
    """True when numba's on-disk cache holds ``kernel`` for the current kernel files (it then loads in well
    under a second)."""
    cache = getattr(kernel, "_cache", None)
    if cache is None or type(cache).__name__ == "NullCache":  # no writable cache location: compiled on every run
        return False
    load_index = getattr(getattr(cache, "_cache_file", None), "_load_index", None)
    if load_index is None:  # numba internals moved: stay quiet rather than guess
        return True
    try:
        # the index's entries, when it was written for these kernel files' contents (``STAMP``: numba gives {}
        # for another stamp); file times would call a cache cold after a checkout rewrote identical files
        return bool(load_index())
    except Exception:  # an unreadable index: numba will compile
        return False


# ---- compilation units ------------------------------------------------------------------
# kind -> the column of ``kinds`` holding the address of each op's unit of that kind
COLUMN = {"sweep": 3, "retape": 4, "forward": 5}
HEADS: dict = {}    # kind -> the numba type of the head its units take (set by ops/kernels.py)
NINTS: dict = {}    # kind -> how many int64 arguments its units take after the head
UNITS: dict = {kind: {} for kind in COLUMN}  # kind -> family -> the unit's dispatcher
WEIGHTS: dict = {}  # a unit's dispatcher -> about how many seconds it takes to compile cold (``unit``)
_ADDRESSES: dict = {}  # (kind, family) -> the compiled unit's address in this process


def unit(kind: str, *families: int, weight: float = 1.0):
    """Decorator: a kernel that is the ``kind`` unit of ``families``, called by its core through its address.

    Its arguments are the kind's head and NINTS[kind] int64s; it returns an int64 status. ``weight`` is
    about how many seconds its cold compile takes on a 2-core machine (measured): ``prefetch`` balances the
    units it hands to worker processes by it."""
    def decorate(fn):
        dispatcher = _njit(fn, no_cpython_wrapper=True, no_cfunc_wrapper=True)
        for family in families:
            if family in UNITS[kind]:
                raise RuntimeError(f"two {kind} units for family {family}: {UNITS[kind][family].py_func.__name__} "
                                   f"and {fn.__name__}")
            UNITS[kind][family] = dispatcher
        WEIGHTS[dispatcher] = float(weight)
        return dispatcher
    return decorate


def unit_caller(kind: str):
    """The intrinsic a core calls a ``kind`` unit with: ``call(address, head, (i0, i1, ...))`` -> int64.

    The head must have the kind's type (checked when the core is compiled); the
    integers are passed as int64. An exception raised in the unit propagates."""

    @intrinsic
    def call_unit(typingctx, address, head, ints):
        if head != HEADS[kind]:
            raise errors.TypingError(f"a {kind} unit takes a head of type {HEADS[kind]}, not {head}: compile the "
                                     "units for these types, or pass the core its arguments in these types")
        fields = tuple(types.unliteral(t) for t in ints)
        if len(fields) != NINTS[kind] or not all(isinstance(t, (types.Integer, types.Boolean)) for t in fields):
            raise errors.TypingError(f"a {kind} unit takes {NINTS[kind]} integers after its head, not {ints}")

        def codegen(context, builder, signature, args):
            argtypes = (HEADS[kind],) + (types.int64,) * len(fields)
            values = [args[1]] + [context.cast(builder, builder.extract_value(args[2], i), t, types.int64)
                                  for i, t in enumerate(fields)]
            function_type = context.call_conv.get_function_type(types.int64, argtypes)
            pointer = builder.inttoptr(args[0], function_type.as_pointer())
            status, result = context.call_conv.call_function(builder, pointer, types.int64, argtypes, values)
            with cgutils.if_unlikely(builder, status.is_error):
                context.call_conv.return_status_propagate(builder, status)
            return result

        return types.int64(types.int64, head, ints), codegen

    return call_unit


def unit_address(kind: str, family: int) -> int:
    """Compile (or load from numba's cache) the ``kind`` unit of ``family``; its address in this process.

    A unit a worker process is compiling (``prefetch``) is loaded from the cache once the worker reports
    it done (compiled here if the worker failed)."""
    key = (kind, family)
    address = _ADDRESSES.get(key)
    if address is None:
        bind_externals()
        if _PENDING.pop(key, None) is not None:
            while _MINE:  # this process's share first: the worker is still busy with its own
                unit_address(*_MINE.pop())
        for worker in _WORKERS:
            worker.take(key)
        dispatcher = UNITS[kind][family]
        signature = (HEADS[kind],) + (types.int64,) * NINTS[kind]
        dispatcher.compile(signature)
        result = dispatcher.overloads[signature]
        address = result.library.get_pointer_to_function(result.fndesc.mangled_name)
        if not address:  # pragma: no cover - numba's internals moved
            raise RuntimeError(f"tape: numba gave no address for the {kind} unit {dispatcher.py_func.__name__}")
        _ADDRESSES[key] = address
    return address


def _needed(kind: str, kinds: np.ndarray, ops: np.ndarray) -> list:
    """The families of ``ops`` with a ``kind`` unit whose address ``kinds`` does not hold."""
    column = COLUMN[kind]
    families = sorted({int(f) for f in kinds[np.unique(ops), 0] if int(f) in UNITS[kind]})
    return [f for f in families if (kinds[kinds[:, 0] == f, column] == 0).any()]


def _cold(pairs: list) -> list:
    return [p for p in pairs if p not in _ADDRESSES and p not in _PENDING and not cache_is_warm(UNITS[p[0]][p[1]])]


def ensure_units(needs: list, kinds: np.ndarray, announce=None, meanwhile=None, likely: list = ()) -> None:
    """Compile the units that ``needs`` [(kind, ops)] asks for and ``kinds`` holds no address for (those of
    the families of ``ops``), and write their addresses into ``kinds`` (every op of each family).
    ``announce(kind, families)`` is told which compile when numba's cache does not hold them; when two or
    more are cold, some compile in worker processes (``prefetch``). ``meanwhile()`` runs before this
    process waits for a worker. ``likely`` [(kind, ops)]: units soon needed, compiled meanwhile by a
    worker if one is idle enough (``prefetch``)."""
    missing = [(kind, f) for kind, ops in needs for f in _needed(kind, kinds, ops)]
    cold = _cold(missing)
    _tell(announce, cold)
    prefetch(cold, 0.0, _cold([(kind, f) for kind, ops in likely for f in _needed(kind, kinds, ops)]))
    for kind, family in _in_order(missing):
        if (kind, family) in _PENDING and meanwhile is not None:
            meanwhile()
            meanwhile = None
        kinds[kinds[:, 0] == family, COLUMN[kind]] = unit_address(kind, family)


def hint(needs: list, kinds: np.ndarray, core_weight: float, announce=None, likely: list = ()) -> None:
    """Before a core's first call in this process: start compiling, in worker processes, the cold units
    that ``needs`` [(kind, ops)] will ask for, while this process compiles the core (about ``core_weight``
    seconds; 0 when it is cached)."""
    cold = _cold([(kind, f) for kind, ops in needs for f in _needed(kind, kinds, ops)])
    _tell(announce, cold)
    prefetch(cold, core_weight, _cold([(kind, f) for kind, ops in likely for f in _needed(kind, kinds, ops)]))


_TOLD: set = set()  # the cold units announced in this process


def _tell(announce, pairs: list) -> None:
    """Announce, once each, the cold units about to compile (per kind)."""
    new = [p for p in pairs if p not in _TOLD]
    _TOLD.update(new)
    if announce is not None:
        for kind in COLUMN:
            families = [f for k, f in new if k == kind]
            if families:
                announce(kind, families)


# ---- compiling units in worker processes ------------------------------------------------
# numba compiles in Python, holding the GIL: a second core only helps from another process. A worker imports
# tape from the same files once, then compiles the units it is sent (a JSON line of (kind, family) pairs on
# its stdin) into numba's on-disk cache, reporting each on its stdout as it is done; this process loads a
# unit from the cache (tens of milliseconds) once its worker reported it. A worker lives as long as this
# process: it exits when its stdin closes, after the unit it is compiling. Off where no cache is written,
# and with TAPE_COMPILE_WORKERS=0 (its default: one worker per core but one, at most 3).
_PENDING: dict = {}  # (kind, family) -> the worker compiling it
STARTED: list = []  # the units sent to workers, one list per prefetch and worker
_WORKERS: list = []  # the workers started in this process
_MINE: list = []  # cold units a prefetch left to this process (compiled before it waits for a worker)
_WORKER_START = 1.5  # a worker's start-up (import tape, numba's first compile), in seconds as ``WEIGHTS``
_WORKER_CODE = """
import json, os, select, sys
paths, expected, fill = json.loads(sys.argv[1])
sys.path[:] = paths
from tape.ops import _numba
if _numba.__file__ != expected:
    sys.exit(3)


def compile_one(kind, family):
    if not _numba.cache_is_warm(_numba.UNITS[kind][family]):  # else the parent compiled it meanwhile
        print(json.dumps(["start", kind, family]), flush=True)
        try:
            _numba.unit_address(kind, family)
        except Exception:
            pass
    print(json.dumps(["done", kind, family]), flush=True)


queue, partial, fd = [], b"", sys.stdin.fileno()
while True:
    try:  # new units from the parent come first; idle, it fills the cache with the units not asked for yet
        ready = select.select([fd], [], [], None if not queue and not fill else 0)[0]
    except (OSError, ValueError):  # no select on this pipe (Windows): no filling, only what it is sent
        fill, ready = [], [fd]
    if ready:
        data = os.read(fd, 65536)
        if not data:  # the parent is gone
            break
        lines = (partial + data).split(b"\\n")
        partial = lines.pop()
        queue += [pair for line in lines for pair in json.loads(line)]
    elif queue:
        compile_one(*queue.pop(0))
    elif fill:
        compile_one(*fill.pop(0))
"""


class _Worker:
    """A compile worker process: the units sent to it, in order, until it reports them done; idle, it
    compiles the cold units it was started with (``fill``) into the cache, one at a time.

    This process takes back ("steals") a unit the worker has not started when it needs it, beginning at
    the end of the worker's queue, so an estimate that was off costs no waiting; the worker skips a unit
    whose kernel is in the cache by the time it comes to it."""

    def __init__(self, fill: list) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _WORKER_CODE, json.dumps([sys.path, __file__, fill])],
                                     env={**os.environ, "TAPE_COMPILE_WORKERS": "0"}, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
        self.queued: list = []  # (kind, family) sent and not reported done, in the order sent
        self.running = None  # the kernel it reported starting and not finishing
        self.fresh = True  # still importing tape
        self._partial = b""

    def backlog(self) -> float:
        """About how many seconds until it is done with what it was sent (from one per kernel)."""
        self._read(block=False)
        kernels = {UNITS[k][f] for k, f in self.queued}
        return sum(WEIGHTS.get(d, 1.0) for d in kernels) + (_WORKER_START if self.fresh else 0.0)

    def send(self, pairs: list) -> bool:
        try:
            self.proc.stdin.write((json.dumps(pairs) + "\n").encode())
            self.proc.stdin.flush()
        except (OSError, ValueError):  # the worker is gone: compile here
            return False
        self.queued += pairs
        return True

    def _read(self, block: bool) -> None:
        """Take in the worker's reports (waiting for one if ``block``)."""
        fd = self.proc.stdout.fileno()
        while True:
            if not block:
                try:
                    if not select.select([fd], [], [], 0)[0]:
                        return
                except (OSError, ValueError):  # no select on this pipe (Windows): wait for reports instead
                    return
            data = os.read(fd, 65536)
            if not data:  # the worker died: whatever it had left compiles in this process
                self.queued.clear()
                self.running = None
                return
            lines = (self._partial + data).split(b"\n")
            self._partial = lines.pop()
            for line in lines:
                what, kind, family = json.loads(line)
                self.fresh = False
                kernel = UNITS[kind][family]
                if what == "start":
                    self.running = kernel
                else:
                    if self.running is kernel:
                        self.running = None
                    self.queued = [p for p in self.queued if UNITS[p[0]][p[1]] is not kernel]
            if lines and block:
                return

    def take(self, pair: tuple) -> None:
        """Before this process compiles or loads ``pair``: wait for the worker if it is compiling its kernel,
        else take it back from the worker's queue. While it waits, it compiles what the worker was sent and
        has not started, from the end of its queue."""
        kernel = UNITS[pair[0]][pair[1]]
        self._read(block=False)
        while self.running is kernel:
            spare = [p for p in self.queued if UNITS[p[0]][p[1]] is not kernel]
            if spare:
                unit_address(*spare[-1])
                self._read(block=False)
            else:
                self._read(block=True)
        self.queued = [p for p in self.queued if UNITS[p[0]][p[1]] is not kernel]

    def position(self, pair: tuple) -> int:
        return self.queued.index(pair) if pair in self.queued else -1


def _worker_count() -> int:
    value = os.environ.get("TAPE_COMPILE_WORKERS")
    if value is not None:
        return max(int(value), 0)
    return min(max((os.cpu_count() or 1) - 1, 0), 3)


def _workers() -> list:
    """The workers this process may use, started on first use (none where workers cannot run). Each is
    given a share of the cold units to compile when it is idle."""
    count = _worker_count()
    if count == 0 or not os.path.basename(sys.executable).startswith("python"):
        return []
    if len(_WORKERS) < count:
        pairs = [(kind, family) for kind in ("sweep", "forward", "retape") for family in sorted(UNITS[kind])]
        fill = _cold([pairs[i] for i in sorted({id(UNITS[k][f]): i for i, (k, f) in enumerate(pairs)}.values())])
        if any(type(getattr(UNITS[k][f], "_cache", None)).__name__ != "FunctionCache" for k, f in fill):
            return []  # no on-disk cache to hand the results over through
        while len(_WORKERS) < count:
            try:
                _WORKERS.append(_Worker(fill[len(_WORKERS)::count]))
            except OSError:  # pragma: no cover - no process to start: compile here
                break
    return [w for w in _WORKERS if w.proc.poll() is None]


def warm_up() -> None:
    """A kernel is about to compile cold: start the compile workers now (they fill the cache while idle)."""
    _workers()


def _jobs(pairs: list) -> dict:
    """``pairs`` grouped by the kernel that serves them (the elementwise families share one): one job each."""
    jobs: dict = {}
    for pair in pairs:
        jobs.setdefault(UNITS[pair[0]][pair[1]], []).append(pair)
    return jobs


def prefetch(pairs: list, main_load: float = 0.0, likely: list = ()) -> None:
    """Hand some of the cold units ``pairs`` to worker processes, balancing their estimated compile time
    (``WEIGHTS``) against this process's (``main_load`` seconds already, plus the units it keeps), and
    queue the cold units ``likely`` to be asked for soon behind them (workers only: this process compiles
    those when it needs them, if no worker did by then)."""
    jobs = _jobs(pairs)
    likely = {d: job for d, job in _jobs([p for p in likely if p not in pairs]).items() if d not in jobs}
    if len(jobs) + (main_load > 0) < 2 and not likely:
        return
    if any(type(getattr(d, "_cache", None)).__name__ != "FunctionCache" for d in list(jobs) + list(likely)):
        return  # no on-disk cache to hand the results over through
    workers = _workers()
    if not workers:
        return
    loads = [main_load] + [w.backlog() for w in workers]
    shares: list = [[] for _ in loads]
    for dispatcher, job in sorted(jobs.items(), key=lambda j: -WEIGHTS.get(j[0], 1.0)):
        i = loads.index(min(loads))
        loads[i] += WEIGHTS.get(dispatcher, 1.0)
        shares[i].append(job)
    for dispatcher, job in likely.items():
        i = loads.index(min(loads[1:]), 1)
        loads[i] += WEIGHTS.get(dispatcher, 1.0)
        shares[i].append(job)
    for worker, share in zip(workers, shares[1:]):
        pairs_sent = [pair for job in share for pair in job]
        if not pairs_sent:
            continue
        if not worker.send(pairs_sent):  # the worker compiles a kernel once, however many pairs it serves
            continue
        for pair in pairs_sent:
            _PENDING[pair] = worker
        STARTED.append([job[0] for job in share])
    _MINE.extend(pair for job in shares[0] for pair in job)


def _in_order(pairs: list) -> list:
    """The order to get ``pairs`` in: this process's share first, then the workers', from the end of their
    queues (``_Worker.take``)."""
    return sorted(pairs, key=lambda p: (p in _PENDING, -_PENDING[p].position(p) if p in _PENDING else 0))


def compile_units() -> int:
    """Compile every unit this process has not (from numba's cache where it holds them; cold ones partly in
    worker processes). Returns how many units this process now holds."""
    pairs = [(kind, family) for kind, units in UNITS.items() for family in units]
    prefetch(_cold(pairs))
    for kind, family in _in_order(pairs):
        unit_address(kind, family)
    return len(_ADDRESSES)


def check_units(needs_unit) -> None:
    """Raise if a family that a core sends to a unit (``needs_unit(column, family)``, the cores' own test)
    has no unit registered, or one is registered for a family no core sends there."""
    for kind, column in COLUMN.items():
        for family in range(64):
            sent = bool(needs_unit.py_func(column, family))
            if sent != (family in UNITS[kind]):
                raise RuntimeError(f"tape: the {kind} core {'sends' if sent else 'does not send'} family {family} "
                                   f"to a unit, but {'none' if sent else 'one'} is registered")


__all__ = ["COLUMN", "HEADS", "KERNEL_FILES", "NINTS", "STAMP", "UNITS", "bind_externals", "cache_is_warm",
           "check_units", "compile_units", "ensure_units", "hint", "jit", "jit_entry", "jit_external", "jit_inline",
           "jit_literal", "unit", "unit_address", "unit_caller", "warm_up"]
