"""Generate and compile the numerical model from its :class:`ModelSpec`.

The right-hand side and its analytic Jacobian are printed from the sympy
expressions (after common-subexpression elimination) into one Python module
together with the solver template :mod:`remit.engine._kernel`; numba compiles it
and caches the machine code next to the generated file, keyed by the model hash,
so a second run of the same model starts without compiling.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from remit.model.spec import ModelSpec
from remit.store import atomic_write_text

_KERNEL = Path(__file__).resolve().parent.parent / "engine" / "_kernel.py"


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


def _body(spec: ModelSpec, exprs: list[sp.Expr], targets: list[str]) -> list[str]:
    y, p = spec.symbols()
    lines = [f"    {s} = y[{i}]" for i, s in enumerate(y)]
    lines += [f"    {s} = p[{j}]" for j, s in enumerate(p)]
    subs, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_x"), optimizations="basic")
    pr = _Printer({"fully_qualified_modules": True})
    for sym, e in subs:
        lines.append(f"    {sym} = {pr.doprint(e)}")
    for tgt, e in zip(targets, reduced):
        lines.append(f"    {tgt} = {pr.doprint(e)}")
    return lines


def generate_source(spec: ModelSpec) -> str:
    """Python source of ``rhs``, ``jac`` and the solver, specialised to ``spec``."""
    n = len(spec.states)
    rhs_lines = _body(spec, list(spec.rhs), [f"dy[{i}]" for i in range(n)])
    jm = spec.jacobian()
    nz = [(i, j) for i in range(n) for j in range(n) if jm[i, j] != 0]
    jac_lines = _body(spec, [jm[i, j] for i, j in nz], [f"J[{i}, {j}]" for i, j in nz])
    src = [
        f'"""Generated from model {spec.name} (hash {spec.hash()}); do not edit."""',
        "import math",
        "from numba import njit",
        "",
        "N_STATES = %d" % n,
        "JAC_NONZEROS = %d" % len(nz),
        "",
        "@njit(cache=True, fastmath=False)",
        "def rhs(y, p, dy):",
        *rhs_lines,
        "",
        "@njit(cache=True, fastmath=False)",
        "def jac(y, p, J):",
        *jac_lines,
        "",
        "",
    ]
    return "\n".join(src) + _KERNEL.read_text()


def _cache_dir() -> Path:
    root = os.environ.get("REMIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join(Path.home(), ".cache")), "remit"
    )
    path = Path(root) / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


@lru_cache(maxsize=8)
def _load(name: str, source: str) -> ModuleType:
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    modname = f"remit_gen_{name}_{digest}"
    path = _cache_dir() / f"{modname}.py"
    if not path.exists() or path.read_text() != source:
        atomic_write_text(path, source)
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    spec.loader.exec_module(module)
    return module


def compile_model(spec: ModelSpec) -> ModuleType:
    """The compiled module for ``spec`` (``rhs``, ``jac``, ``integrate_one``, ``integrate_batch``)."""
    return _load(spec.name, generate_source(spec))
