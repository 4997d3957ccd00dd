"""A Rosenbrock method as a value: a self-checking tableau, and a solver built on it.

Rosenbrock (linearly implicit) methods with one ``gamma`` on the diagonal, in the form of
Hairer & Wanner, Solving ODEs II, 2nd ed. (1996), sec. IV.7 without the Gamma products, which
the kernel (:mod:`remit.engine._kernel`, stages from :mod:`remit.engine.stages`) and the JAX
backend run: per step, with ``J = f'(y)``,

    (I / (h gamma) - J) K_i = f(y + sum_j A_ij K_j) + sum_j C_ij K_j / h,   i = 1..s
    y_new = y + sum_i m_i K_i,   error estimate  sum_i (m_i - m_hat_i) K_i

(autonomous problems: the model has no explicit time dependence). Its standard form
(``alpha``, ``Gamma``, ``b``; ``k_i = h f(y + sum_j alpha_ij k_j) + h J sum_j Gamma_ij k_j``)
follows from ``Gamma^-1 = diag(1/gamma) - C``, ``alpha = A Gamma``, ``b = m Gamma``, and is what
the order conditions are written in. Adding a method is a new module in this package with a
:class:`RosenbrockTableau` and a :class:`Solver`, registered in :data:`SOLVERS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from math import prod

import numpy as np

from remit.registry import Registry

SOLVERS = Registry("solver method")  # complete once remit.engine.solvers is imported
TOLERANCE = 1e-10  # order conditions and nodes hold to this (coefficients are given to ~16 digits)
MAX_ORDER = 6  # order conditions are checked up to this order


# ----------------------------------------------------------------------------- rooted trees
@lru_cache(maxsize=None)
def trees(order: int) -> tuple[tuple, ...]:
    """Rooted trees with ``order`` vertices, each a sorted tuple of its subtrees (a leaf is ``()``)."""
    if order == 1:
        return ((),)

    def grown(t):  # every tree with one vertex more than ``t``
        yield tuple(sorted(t + ((),)))
        for i, sub in enumerate(t):
            for g in grown(sub):
                yield tuple(sorted(t[:i] + (g,) + t[i + 1:]))

    return tuple(sorted({g for t in trees(order - 1) for g in grown(t)}))


def _size(t: tuple) -> int:
    return 1 + sum(_size(sub) for sub in t)


def tree_text(t: tuple) -> str:
    """``t`` in bracket notation: a leaf is ``t``, a vertex ``[subtree, ...]``."""
    return "[" + ", ".join(tree_text(sub) for sub in t) + "]" if t else "t"


def _density(t: tuple) -> int:
    """gamma(t): the condition of tree ``t`` is ``b . Phi(t) = 1 / gamma(t)``."""
    return _size(t) * prod(_density(sub) for sub in t)


# ----------------------------------------------------------------------------- tableau
def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _frozen(x, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``x`` as a read-only float array of ``shape`` with finite entries."""
    a = np.array(x, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"Rosenbrock tableau: {name} has shape {a.shape}, expected {shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"Rosenbrock tableau: {name} = {a.tolist()} is not finite")
    return _readonly(a)


@dataclass(frozen=True, eq=False)
class RosenbrockTableau:
    """Coefficients of an s-stage Rosenbrock method in the kernel's form (module docstring).

    Checked when built: shapes, finite values, ``gamma > 0``, ``A`` and ``C`` strictly lower
    triangular, and the nodes: each row sum of the standard-form ``alpha`` equals ``c``.

    Parameters
    ----------
    gamma
        The diagonal of Gamma, shared by all stages (one LU of ``I/(h gamma) - J`` per step).
    A, C
        (s, s) strictly lower triangular coupling of the stages' arguments and right-hand sides.
    m, m_hat
        (s,) weights of the solution and of the embedded (lower order) solution.
    c
        (s,) nodes: stage ``i`` evaluates f at the solution's approximation at ``t + c_i h``.
    """

    gamma: float
    A: np.ndarray
    C: np.ndarray
    m: np.ndarray
    m_hat: np.ndarray
    c: np.ndarray

    def __post_init__(self) -> None:
        s = len(self.m)
        for name, shape in (("A", (s, s)), ("C", (s, s)), ("m", (s,)), ("m_hat", (s,)), ("c", (s,))):
            object.__setattr__(self, name, _frozen(getattr(self, name), shape, name))
        object.__setattr__(self, "gamma", float(self.gamma))
        if s < 1:
            raise ValueError("Rosenbrock tableau: at least one stage is needed")
        if not (np.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"Rosenbrock tableau: gamma = {self.gamma!r}, must be > 0")
        for name in ("A", "C"):
            upper = np.triu(getattr(self, name))
            if np.any(upper != 0):
                i, j = np.argwhere(upper != 0)[0]
                raise ValueError(f"Rosenbrock tableau: {name}[{i}, {j}] = {upper[i, j]!r}, must be 0 "
                                 f"(stage {i + 1} may only use earlier stages)")
        nodes = self.alpha.sum(axis=1)
        if not np.allclose(nodes, self.c, rtol=0, atol=TOLERANCE):
            i = int(np.argmax(np.abs(nodes - self.c)))
            raise ValueError(f"Rosenbrock tableau: c[{i}] = {self.c[i]!r}, but row {i + 1} of alpha sums to {nodes[i]!r}")

    @property
    def stages(self) -> int:
        return len(self.m)

    @cached_property
    def Gamma(self) -> np.ndarray:  # noqa: N802 (the field's name)
        """(s, s) lower triangular Gamma of the standard form, ``gamma`` on the diagonal."""
        return _readonly(np.linalg.inv(np.diag(np.full(self.stages, 1.0 / self.gamma)) - self.C))

    @cached_property
    def alpha(self) -> np.ndarray:
        """(s, s) standard-form ``alpha = A Gamma``."""
        return _readonly(self.A @ self.Gamma)

    @cached_property
    def b(self) -> np.ndarray:
        """(s,) standard-form weights of the solution, ``m Gamma``."""
        return _readonly(self.m @ self.Gamma)

    @cached_property
    def b_hat(self) -> np.ndarray:
        """(s,) standard-form weights of the embedded solution, ``m_hat Gamma``."""
        return _readonly(self.m_hat @ self.Gamma)

    @cached_property
    def error(self) -> np.ndarray:
        """(s,) weights of the error estimate, ``m - m_hat``."""
        return _readonly(self.m - self.m_hat)

    @property
    def stiffly_accurate(self) -> bool:
        """The solution is the last stage's argument plus its own increment (``b`` is the last
        row of ``alpha + Gamma`` and ``c_s = 1``), so the method is exact in the stiff limit."""
        beta = self.alpha + self.Gamma
        return bool(np.allclose(self.b, beta[-1], rtol=0, atol=TOLERANCE) and abs(self.c[-1] - 1.0) <= TOLERANCE)

    def stability_at_infinity(self) -> float:
        """``R(infinity) = 1 - b (alpha + Gamma)^-1 1`` of the stability function; 0 for an L-stable method."""
        return float(1.0 - self.b @ np.linalg.solve(self.alpha + self.Gamma, np.ones(self.stages)))

    def residual(self, tree: tuple, weights: np.ndarray) -> float:
        """``weights . Phi(tree) - 1/gamma(tree)`` for standard-form ``weights`` (``b`` or ``b_hat``).

        Phi for Rosenbrock methods with the exact Jacobian (Hairer & Wanner, sec. IV.7): a vertex
        with one subtree couples it through ``alpha + Gamma``, with several through ``alpha``."""
        alpha, beta = self.alpha, self.alpha + self.Gamma

        def phi(t):
            if not t:
                return np.ones(self.stages)
            if len(t) == 1:
                return beta @ phi(t[0])
            return prod(alpha @ phi(sub) for sub in t)

        return float(weights @ phi(tree) - 1.0 / _density(tree))

    def order_of(self, weights: np.ndarray) -> tuple[int, str]:
        """Highest order ``p <= MAX_ORDER`` whose conditions all hold for ``weights``, and the
        first failing condition of order ``p + 1`` in words ('' if none failed)."""
        for p in range(1, MAX_ORDER + 1):
            for t in trees(p):
                r = self.residual(t, weights)
                if abs(r) > TOLERANCE:
                    return p - 1, f"order-{p} condition of tree {tree_text(t)} misses by {r:.3g}"
        return MAX_ORDER, ""

    @cached_property
    def starts(self) -> np.ndarray:
        """(s + 1,) how the kernel forms each stage's argument, and last the new solution (row ``m``):
        ``0``: y plus all its terms; ``i - 1``: the previous argument plus its one new term (rows
        agree before column ``i - 1``); ``i``: the previous argument itself, so its f is reused."""
        rows = np.vstack([self.A, self.m])
        out = np.zeros(self.stages + 1, dtype=np.int64)
        for i in range(1, self.stages + 1):
            if np.array_equal(rows[i, :i - 1], rows[i - 1, :i - 1]):
                out[i] = i if rows[i, i - 1] == 0.0 else i - 1
        return _readonly(out)


# ----------------------------------------------------------------------------- solver
@dataclass(frozen=True, eq=False)
class Solver:
    """A Rosenbrock method: its tableau, the orders it reaches, and where it comes from.

    Built only if the tableau's weights satisfy the order conditions of exactly ``order`` (and
    the embedded weights those of exactly ``embedded_order``), up to :data:`MAX_ORDER`.

    Parameters
    ----------
    name
        The method's name in the literature ("Rodas4").
    tableau
        Its coefficients.
    order, embedded_order
        Orders of the solution and of the embedded solution that controls the step size.
    source
        Citation of the coefficients.
    notes
        Properties that matter for choosing it (stability, error estimate, use in remit).
    """

    name: str
    tableau: RosenbrockTableau
    order: int
    embedded_order: int
    source: str
    notes: str = ""

    def __post_init__(self) -> None:
        tab = self.tableau
        for what, weights, declared in (("order", tab.b, self.order), ("embedded_order", tab.b_hat, self.embedded_order)):
            if not 1 <= declared <= MAX_ORDER:
                raise ValueError(f"{self.name}: {what} = {declared!r}, must be between 1 and {MAX_ORDER}")
            found, why = tab.order_of(weights)
            if found != declared:
                raise ValueError(f"{self.name}: {what} = {declared}, but its weights reach order {found} ({why})")
        if self.embedded_order >= self.order:
            raise ValueError(f"{self.name}: embedded_order = {self.embedded_order}, must be below order = {self.order}")

    @property
    def stages(self) -> int:
        return self.tableau.stages

    @property
    def controller_exponent(self) -> float:
        """Exponent of the step-size controller, ``1 / (embedded_order + 1)``."""
        return 1.0 / (self.embedded_order + 1)
