"""Generate and compile the numerical model from its :class:`ModelSpec`.

The right-hand side and its analytic Jacobian are printed from the sympy
expressions (after common-subexpression elimination) into one Python module
together with the solver template :mod:`remit.engine._kernel` (with the stages of every
registered solver, generated from their tableaus by :mod:`remit.engine.stages`); numba compiles it
and caches the machine code next to the generated file, keyed by the model's structure hash (equations, not values),
so a second run of the same model starts without compiling.

Besides ``rhs`` and ``jac`` the module holds a sparse LU factorisation of the
Rosenbrock matrix ``W = g*I - J`` written out as straight-line code for the model's
Jacobian sparsity pattern (``w_factor``, ``w_solve``). Rows and columns are permuted
symmetrically (so that ``g`` stays on the diagonal) by a greedy minimum-fill
(Markowitz) order computed here once; there is no numerical pivoting, and
``w_factor`` returns the largest elimination multiplier so that the solver can fall
back to a dense, partially pivoted LU when the static order would be unstable.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from remit.engine.solvers import SOLVERS
from remit.engine.stages import kernel_source
from remit.model.spec import ModelSpec
from remit.store import atomic_write_text

_KERNEL = Path(__file__).resolve().parent.parent / "engine" / "_kernel.py"
_CODES = _KERNEL.parent / "codes.py"  # the event and status codes the kernel reads at compile time
GENERATOR_VERSION = "3"  # bump when the shape of the generated code changes


def _printer():
    from sympy.printing.pycode import PythonCodePrinter

    class _Printer(PythonCodePrinter):
        """Plain-float printing for numba: ``math.exp``, no rationals."""

        def _print_Rational(self, expr):  # noqa: N802 (sympy API)
            return repr(float(expr))

        def _print_Pow(self, expr, rational=False):  # noqa: N802
            base, exp = expr.as_base_exp()
            if exp.is_Integer and 1 < int(exp) <= 4:
                b = self.parenthesize(base, 100)
                return "(" + "*".join([b] * int(exp)) + ")"
            if exp == -1:
                return f"(1.0/{self.parenthesize(base, 100)})"
            return f"({self.parenthesize(base, 100)}**{self.parenthesize(exp, 100)})"

    return _Printer({"fully_qualified_modules": True})


def _body(spec: ModelSpec, exprs: list, targets: list[str]) -> list[str]:
    import sympy as sp

    y, p = spec.symbols()
    used = set().union(*(e.free_symbols for e in exprs)) if exprs else set()
    lines = [f"    {s} = y[{i}]" for i, s in enumerate(y) if s in used]
    lines += [f"    {s} = p[{j}]" for j, s in enumerate(p) if s in used]
    subs, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_x"), optimizations="basic")
    pr = _printer()
    for sym, e in subs:
        lines.append(f"    {sym} = {pr.doprint(e)}")
    for tgt, e in zip(targets, reduced):
        lines.append(f"    {tgt} = {pr.doprint(e)}")
    return lines


# ----------------------------------------------------------------------------- sparse LU
def lu_plan(n: int, nonzeros: list[tuple[int, int]]) -> tuple[list[int], set[tuple[int, int]]]:
    """Pivot order and fill pattern of ``W = g*I - J`` for the pattern ``nonzeros`` of ``J``.

    Diagonal pivots only (a symmetric permutation); at each elimination step the pivot
    with the smallest Markowitz count ``(r - 1)(c - 1)`` in the active submatrix is taken,
    ties broken by the lowest index (deterministic). Returns ``order`` (original index of
    the k-th pivot) and the filled pattern in original indices.
    """
    pattern = set(nonzeros) | {(i, i) for i in range(n)}
    rows = {i: set() for i in range(n)}
    cols = {j: set() for j in range(n)}
    for i, j in pattern:
        rows[i].add(j)
        cols[j].add(i)
    active = set(range(n))
    order: list[int] = []
    while active:
        k = min(active, key=lambda q: ((len(rows[q] & active) - 1) * (len(cols[q] & active) - 1), q))
        order.append(k)
        active.discard(k)
        r = [j for j in rows[k] if j in active]
        c = [i for i in cols[k] if i in active]
        for i in c:
            for j in r:
                if (i, j) not in pattern:
                    pattern.add((i, j))
                    rows[i].add(j)
                    cols[j].add(i)
    return order, pattern


def _lu_source(n: int, nonzeros: list[tuple[int, int]]) -> tuple[list[str], dict]:
    """Straight-line ``w_factor(jv, g, lu)`` and ``w_solve(lu, b)`` for this sparsity pattern."""
    order, pattern = lu_plan(n, nonzeros)
    pos = {old: new for new, old in enumerate(order)}
    P = sorted((pos[i], pos[j]) for i, j in pattern)  # permuted pattern
    slot = {e: s for s, e in enumerate(P)}
    src_of = {(pos[i], pos[j]): k for k, (i, j) in enumerate(nonzeros)}
    rows_below = {k: [i for (i, j) in P if j == k and i > k] for k in range(n)}
    cols_right = {k: [j for (i, j) in P if i == k and j > k] for k in range(n)}
    a = lambda i, j: f"a{i}_{j}"  # noqa: E731

    f = ["@njit(cache=True, fastmath=False, error_model='numpy')", "def w_factor(jv, g, lu):",
         '    """LU of W = g*I - J (J as ``jv``) into ``lu``; returns the largest |multiplier|."""']
    for i, j in P:
        k = src_of.get((i, j))
        if i == j:
            f.append(f"    {a(i, j)} = g - jv[{k}]" if k is not None else f"    {a(i, j)} = g")
        elif k is not None:
            f.append(f"    {a(i, j)} = -jv[{k}]")
    zero = {e for e in P if e[0] != e[1] and e not in src_of}  # fill-in, still exactly zero
    f.append("    mx = 0.0")
    for k in range(n):
        f.append(f"    d{k} = 1.0 / {a(k, k)}")
        for i in rows_below[k]:
            f.append(f"    {a(i, k)} = {a(i, k)} * d{k}")
            f.append(f"    mx = max(mx, abs({a(i, k)}))")
            for j in cols_right[k]:
                if (i, j) in zero:
                    f.append(f"    {a(i, j)} = -({a(i, k)} * {a(k, j)})")
                    zero.discard((i, j))
                else:
                    f.append(f"    {a(i, j)} = {a(i, j)} - {a(i, k)} * {a(k, j)}")
    for i, j in P:
        f.append(f"    lu[{slot[(i, j)]}] = " + (f"d{i}" if i == j else a(i, j)))
    f.append("    return mx")
    f.append("")

    s = ["@njit(cache=True, fastmath=False, error_model='numpy')", "def w_solve(lu, b):",
         '    """Solve W x = b in place with the factors from ``w_factor``."""']
    for k in range(n):
        s.append(f"    x{k} = b[{order[k]}]")
    for i in range(n):
        terms = [f" - lu[{slot[(i, j)]}] * x{j}" for (ii, j) in P if ii == i and j < i]
        if terms:
            s.append(f"    x{i} = x{i}" + "".join(terms))
    for i in range(n - 1, -1, -1):
        terms = [f" - lu[{slot[(i, j)]}] * x{j}" for (ii, j) in P if ii == i and j > i]
        s.append(f"    x{i} = (x{i}" + "".join(terms) + f") * lu[{slot[(i, i)]}]")
    for k in range(n):
        s.append(f"    b[{order[k]}] = x{k}")
    s.append("")
    factor_flops = sum(1 + len(rows_below[k]) * (1 + 2 * len(cols_right[k])) for k in range(n)) + n  # + g on the diagonal
    solve_flops = 2 * (len(P) - n) + n
    info = {"order": order, "lu_nonzeros": len(P), "fill_in": len(P) - len(set(nonzeros) | {(i, i) for i in range(n)}),
            "factor_flops": factor_flops, "solve_flops": solve_flops}
    return f + s, info


def generate_source(spec: ModelSpec) -> str:
    """Python source of ``rhs``, ``jac`` and the solver, specialised to ``spec``."""
    n = len(spec.states)
    rhs_lines = _body(spec, list(spec.rhs), [f"dy[{i}]" for i in range(n)])
    jm = spec.jacobian()
    nz = [(i, j) for i in range(n) for j in range(n) if jm[i, j] != 0]
    jac_lines = _body(spec, [jm[i, j] for i, j in nz], [f"jv[{k}]" for k in range(len(nz))])
    lu_lines, info = _lu_source(n, nz)
    src = [
        f'"""Generated from model {spec.name} (structure {spec.structure_hash()}); do not edit."""',
        "import math",
        "import numpy as np",
        "from numba import njit",
        "",
        "N_STATES = %d" % n,
        "JAC_NONZEROS = %d" % len(nz),
        "LU_NONZEROS = %d" % info["lu_nonzeros"],
        "LU_FILL_IN = %d" % info["fill_in"],
        "LU_ORDER = (%s)" % "".join(f"{k}, " for k in info["order"]),
        "LU_FACTOR_FLOPS = %d" % info["factor_flops"],
        "LU_SOLVE_FLOPS = %d" % info["solve_flops"],
        "",
        "@njit(cache=True, fastmath=False, error_model='numpy')",
        "def rhs(y, p, dy):",
        *rhs_lines,
        "",
        "@njit(cache=True, fastmath=False, error_model='numpy')",
        "def jac_nz(y, p, jv):",
        '    """The nonzero Jacobian entries, row by row (see ``jac_scatter``)."""',
        *jac_lines,
        "",
        "@njit(cache=True, fastmath=False, error_model='numpy')",
        "def jac_scatter(jv, J):",
        *([f"    J[{i}, {j}] = jv[{k}]" for k, (i, j) in enumerate(nz)] or ["    pass"]),
        "",
        "@njit(cache=True, error_model='numpy')",
        "def jac(y, p, J):",
        '    """Dense analytic Jacobian; entries outside the sparsity pattern are left untouched."""',
        "    jv = np.empty(%d)" % max(len(nz), 1),
        "    jac_nz(y, p, jv)",
        "    jac_scatter(jv, J)",
        "",
        *lu_lines,
        "",
    ]
    return "\n".join(src) + _solver_source()


def _solver_source() -> str:
    """The kernel template with the registered solvers' stages filled in (remit.engine.stages)."""
    return kernel_source(_KERNEL.read_text(), {i: SOLVERS.get(i) for i in SOLVERS})


def cache_root() -> Path:
    """remit's cache of compiled code: ``$REMIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/remit`` or ``~/.cache/remit``."""
    return Path(os.environ.get("REMIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join(Path.home(), ".cache")), "remit"))


def _cache_dir() -> Path:
    path = cache_root() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _import(modname: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=1)
def _generator_digest() -> str:
    """Digest of everything besides the model that shapes the generated source."""
    h = hashlib.sha256(GENERATOR_VERSION.encode())
    h.update(Path(__file__).read_bytes())
    h.update(_CODES.read_bytes())
    h.update(_solver_source().encode())  # the kernel template with the solvers' stages, as compiled
    return h.hexdigest()[:12]


@lru_cache(maxsize=16)
def _load(name: str, model_hash: str, generator: str) -> ModuleType:
    modname = f"remit_gen_{name}_{model_hash}_{generator}"
    path = _cache_dir() / f"{modname}.py"
    if not path.exists():  # generate once per model and generator version (needs sympy)
        atomic_write_text(path, generate_source(_pending[(name, model_hash)]))
    return _import(modname, path)


_pending: dict[tuple[str, str], ModelSpec] = {}
_by_id: dict[int, tuple[ModelSpec, ModuleType]] = {}


def compile_model(spec: ModelSpec) -> ModuleType:
    """The compiled module for ``spec`` (``rhs``, ``jac``, ``integrate_one``, ``integrate_batch``).

    Fast on repeated calls: the module is remembered per spec object and per model hash;
    the generated file (and numba's machine-code cache beside it) is keyed by the model
    hash and a digest of the generator and solver template, so a fresh process that
    finds it neither runs sympy's code generation nor recompiles.
    """
    hit = _by_id.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    key = (spec.name, spec.structure_hash())
    _pending[key] = spec
    try:
        module = _load(key[0], key[1], _generator_digest())
    finally:
        _pending.pop(key, None)
    if len(_by_id) >= 32:
        _by_id.clear()
    _by_id[id(spec)] = (spec, module)  # holding ``spec`` keeps its id from being reused
    return module
