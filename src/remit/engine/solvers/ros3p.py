"""ROS3P, an earlier default of remit.

Lang & Verwer (2001), BIT 41:731; coefficients in the form of Hairer & Wanner, Solving ODEs II
(1996), sec. IV.7. 3 stages, order 3, embedded order 2; stage 3 evaluates f where stage 2 does.
Not L-stable (R(infinity) = 1 - sqrt(3)), and its solution and embedded solution share one
stability function, so the error estimate is zero on linear dynamics: it needs a tight rtol
(~5e-7) and h_max for the accuracy of the Rodas methods.
"""

from remit.engine.solvers.base import SOLVERS, RosenbrockTableau, Solver

TABLEAU = RosenbrockTableau(
    gamma=0.7886751345948129,
    A=[[0.0, 0.0, 0.0],
       [1.267949192431123, 0.0, 0.0],
       [1.267949192431123, 0.0, 0.0]],
    C=[[0.0, 0.0, 0.0],
       [-1.607695154586736, 0.0, 0.0],
       [-3.464101615137755, -1.732050807568877, 0.0]],
    m=[2.0, 0.5773502691896258, 0.4226497308103742],
    m_hat=[2.113248654051871, 1.0, 0.4226497308103742],
    c=[0.0, 1.0, 1.0],
)

ROS3P = SOLVERS.register("ros3p", Solver(
    name="ROS3P", tableau=TABLEAU, order=3, embedded_order=2,
    source="Lang & Verwer (2001), BIT 41:731",
    notes="not L-stable; needs rtol ~5e-7"))
