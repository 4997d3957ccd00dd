"""The stages of every registered solver as straight-line numba source, generated from their tableaus.

:mod:`remit.model.codegen` compiles the kernel template (:mod:`remit.engine._kernel`) through
:func:`kernel_source`, which fills in its two marked lines: ``# <stage arrays>`` (one array per
stage of the largest method) and ``# <stages>`` (one branch per solver: its stages, the new
solution and the error norm), and puts ``SOLVER_IDS``, ``GAMMA`` and ``CONTROLLER_EXPONENT``
(the solvers' ids, whose index is the kernel's ``method`` code, their ``gamma`` and
``1 / (embedded order + 1)``) before it. The coefficients are literals and every stage sum is
one pass over the states, written in place in the step loop: as fast as hand-written stages
(a loop over a tableau's arrays took about 1.5x, and a generated step function called from
the loop about 1.2x, the time per step). How each stage's argument is formed (from y, from
the previous argument, or the previous one itself with its f) follows
``RosenbrockTableau.starts``; sums run from the left, ``1/h`` scales the coefficient of a single
term and the sum of several. Adding a method is adding a tableau.
"""

from __future__ import annotations

from collections.abc import Mapping

from remit.engine.solvers.base import Solver

MARKS = ("# <stage arrays>", "# <stages>")


def _terms(coef, names: list[str], base: str | None = None) -> str:
    """``base + c1 * x1 + c2 * x2 ...`` over the nonzero coefficients; a coefficient 1 is left out."""
    terms = [x if c == 1.0 else f"{float(c)!r} * {x}" for c, x in zip(coef, names) if c != 0.0]
    return " + ".join(([base] if base else []) + terms)


def _method_lines(solver: Solver) -> list[str]:
    """One solver's step attempt after its first stage (``k0``, shared by all): stages into
    ``k1..``, the new solution into ``ynew``, ``err`` (sum of squared scaled errors) and ``total``
    (sum of ``ynew``, not finite if any component is not)."""
    tab = solver.tableau
    s, starts = tab.stages, tab.starts
    k = [f"k{j}[i]" for j in range(s)]
    lines: list[str] = []
    f = "f0"  # the right-hand side at the current stage's argument
    for st in range(1, s):
        if starts[st] < st:  # an argument of its own
            base = "y[i]" if starts[st] == 0 else "ytmp[i]"
            lines += ["for i in range(n):", f"    ytmp[i] = {_terms(tab.A[st, starts[st]:st], k[starts[st]:st], base)}",
                      "rhs(ytmp, p, f1)"]
            f = "f1"
        nz = [j for j in range(st) if tab.C[st, j] != 0.0]
        if len(nz) == 1:
            rhs_i = f"{f}[i] + {float(tab.C[st, nz[0]])!r} * inv_h * k{nz[0]}[i]"
        elif nz:
            rhs_i = f"{f}[i] + ({_terms(tab.C[st, :st], k[:st])}) * inv_h"
        else:
            rhs_i = f"{f}[i]"
        lines += ["for i in range(n):", f"    k{st}[i] = {rhs_i}", f"_solve(dense, lu, W, piv, k{st})"]
    start = starts[s]
    lines += ["err = 0.0",
              "total = 0.0",
              "for i in range(n):",
              f"    v = {_terms(tab.m[start:], k[start:], 'y[i]' if start == 0 else 'ytmp[i]')}",
              "    ynew[i] = v",
              "    total += v",
              f"    d = ({_terms(tab.error, k)}) / (atol[i] + rtol * max(abs(y[i]), abs(v)))",
              "    err += d * d"]
    return lines


def _constants(solvers: Mapping[str, Solver]) -> str:
    ids = list(solvers)
    row = lambda values: "".join(f"{v!r}, " for v in values)  # noqa: E731
    return "\n".join([
        f"SOLVER_IDS = ({row(ids)})  # the kernel's method code is the index here",
        f"GAMMA = ({row(solvers[i].tableau.gamma for i in ids)})",
        f"CONTROLLER_EXPONENT = ({row(solvers[i].controller_exponent for i in ids)})", "", ""])


def kernel_source(template: str, solvers: Mapping[str, Solver]) -> str:
    """The kernel template with the stages of ``solvers`` (id -> solver, in method-code order) filled in."""
    most = max(solver.stages for solver in solvers.values())
    arrays = [f"k{j} = np.empty(n)" for j in range(most)]
    stages = ["for i in range(n):", "    k0[i] = f0[i]", "_solve(dense, lu, W, piv, k0)"]  # W K1 = f(y), for every method
    for code, (i, solver) in enumerate(solvers.items()):
        stages += [f"{'if' if code == 0 else 'elif'} method == {code}:  # {i}: {solver.name}"]
        stages += ["    " + line for line in _method_lines(solver)]
    stages += ["else:  # not a method code: the step fails (not finite)", "    err = math.nan", "    total = math.nan"]
    lines = template.splitlines()
    for mark, fill in zip(MARKS, (arrays, stages)):
        at = [j for j, line in enumerate(lines) if line.strip() == mark]
        if len(at) != 1:
            raise ValueError(f"the kernel template must have the line {mark!r} once, found {len(at)}")
        indent = lines[at[0]][:len(lines[at[0]]) - len(lines[at[0]].lstrip())]
        lines[at[0]:at[0] + 1] = [indent + line for line in fill]
    return _constants(solvers) + "\n".join(lines) + "\n"
