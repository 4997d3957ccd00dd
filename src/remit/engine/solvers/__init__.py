"""The Rosenbrock methods of the integrator, by id (:data:`SOLVERS`); one module each.

``SolverOptions.method`` names one of ``SOLVERS.ids()``; the kernel and the JAX backend run
whichever tableau they are given (:mod:`remit.engine.solvers.base`).
"""

from remit.engine.solvers import rodas3, rodas4, ros3p  # noqa: F401 (each registers its method)
from remit.engine.solvers.base import SOLVERS, RosenbrockTableau, Solver

__all__ = ["SOLVERS", "RosenbrockTableau", "Solver"]
