"""Rodas3, the method of the retry of a failed patient (``SolverOptions.safer``).

Sandu et al. (1997), Atmos. Environ. 31:3459. 4 stages, order 3, embedded order 2, L-stable
and stiffly accurate. Its error estimate, the last stage, also sees the error on linear
dynamics (ROS3P's does not). Stage 2 evaluates f at y (row 2 of A is zero) and reuses f(y).
"""

from remit.engine.solvers.base import SOLVERS, RosenbrockTableau, Solver

TABLEAU = RosenbrockTableau(
    gamma=0.5,
    A=[[0.0, 0.0, 0.0, 0.0],
       [0.0, 0.0, 0.0, 0.0],
       [2.0, 0.0, 0.0, 0.0],
       [2.0, 0.0, 1.0, 0.0]],
    C=[[0.0, 0.0, 0.0, 0.0],
       [4.0, 0.0, 0.0, 0.0],
       [1.0, -1.0, 0.0, 0.0],
       [1.0, -1.0, -8.0 / 3.0, 0.0]],
    m=[2.0, 0.0, 1.0, 1.0],
    m_hat=[2.0, 0.0, 1.0, 0.0],
    c=[0.0, 0.0, 1.0, 1.0],
)

RODAS3 = SOLVERS.register("rodas3", Solver(
    name="Rodas3", tableau=TABLEAU, order=3, embedded_order=2,
    source="Sandu et al. (1997), Atmos. Environ. 31:3459",
    notes="L-stable, stiffly accurate; the retry's method (the default before Rodas4)"))
