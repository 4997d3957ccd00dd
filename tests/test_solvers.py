"""Conformance of every registered solver (remit.engine.solvers.SOLVERS) and of the registry.

Each solver: its tableau passes its checks and a wrong coefficient is refused; the compiled
kernel reaches the declared order on problems with an exact solution; it finishes a stiff
reference problem (Robertson's) close to a tight scipy Radau solution; the JAX backend runs
the same steps. A new solver is tested here the moment it registers.
"""

import numpy as np
import pytest
import sympy as sp

from remit.engine.integrate import SolverOptions, simulate
from remit.engine.solvers import SOLVERS, RosenbrockTableau, Solver
from remit.engine.solvers.base import trees
from remit.model.spec import ModelSpec, Parameter, State
from remit.registry import Registry
from remit.therapies.schedule import ScheduleBuilder

IDS = SOLVERS.ids()


# ----------------------------------------------------------------------------- registry
def test_registry_registers_by_call_and_decorator_and_refuses_duplicates():
    reg = Registry("widget")
    assert reg.register("a", 1) == 1

    @reg.register("b")
    def b():
        return 2

    assert reg.ids() == ("a", "b") and list(reg) == ["a", "b"] and "b" in reg and "c" not in reg
    assert reg.get("b") is b
    with pytest.raises(ValueError, match="'a' is registered twice"):
        reg.register("a", 3)
    with pytest.raises(ValueError, match="non-empty string"):
        reg.register("", 3)
    with pytest.raises(KeyError, match=r"unknown widget 'bb' \(known: a, b\); did you mean 'b'\?"):
        reg.get("bb")


def test_the_defaults_name_registered_solvers():
    assert {"rodas4", "rodas3", "ros3p"} <= set(IDS)
    assert SolverOptions().method in SOLVERS and SolverOptions().safer().method in SOLVERS


def test_an_unknown_method_names_the_known_ones():
    model = _problem()
    with pytest.raises(ValueError, match=r"unknown solver method 'rodas5'.*did you mean 'rodas4'"):
        simulate(model, _y0(model)[None], _params(model)[None], _no_events(model), np.array([0.0, 1.0]),
                 SolverOptions(method="rodas5"))


# ----------------------------------------------------------------------------- tableau checks
def test_rooted_trees_and_order_conditions_of_one_stage_methods():
    """The tree counts of OEIS A000081, and the linearly implicit Euler method (1 stage): order 1,
    and order 2 with gamma = 1/2 (the condition b beta' = 1/2 - gamma)."""
    assert [len(trees(p)) for p in range(1, 7)] == [1, 1, 2, 4, 9, 20]
    euler = dict(A=[[0.0]], C=[[0.0]], m=[1.0], m_hat=[0.0], c=[0.0])
    assert RosenbrockTableau(gamma=1.0, **euler).order_of(np.array([1.0]))[0] == 1
    assert RosenbrockTableau(gamma=0.5, **euler).order_of(np.array([1.0]))[0] == 2


@pytest.mark.parametrize("solver_id", IDS)
def test_tableau_passes_its_checks(solver_id):
    solver = SOLVERS.get(solver_id)
    tab = solver.tableau
    assert tab.order_of(tab.b)[0] == solver.order and tab.order_of(tab.b_hat)[0] == solver.embedded_order
    np.testing.assert_allclose(tab.alpha.sum(axis=1), tab.c, atol=1e-12)
    assert np.all(tab.Gamma.diagonal() == pytest.approx(tab.gamma))
    if tab.stiffly_accurate:  # exact in the stiff limit: R(infinity) = 0
        assert abs(tab.stability_at_infinity()) < 1e-12
    assert solver.source and solver.name


@pytest.mark.parametrize("solver_id", IDS)
def test_a_wrong_coefficient_is_refused(solver_id):
    solver = SOLVERS.get(solver_id)
    tab = solver.tableau
    fields = dict(gamma=tab.gamma, A=tab.A, C=tab.C, m=tab.m, m_hat=tab.m_hat, c=tab.c)
    m = tab.m.copy()
    m[0] += 1e-6
    with pytest.raises(ValueError, match=f"{solver.name}: order = {solver.order}, but its weights reach order"):
        Solver(solver.name, RosenbrockTableau(**{**fields, "m": m}), solver.order, solver.embedded_order, solver.source)
    with pytest.raises(ValueError, match=f"{solver.name}: order = {solver.order + 1}, but its weights reach order {solver.order}"):
        Solver(solver.name, tab, solver.order + 1, solver.embedded_order, solver.source)
    c = tab.c.copy()
    c[-1] += 0.01
    with pytest.raises(ValueError, match="row .* of alpha sums to"):
        RosenbrockTableau(**{**fields, "c": c})
    upper = tab.A.copy()
    upper[0, -1] = 1.0
    with pytest.raises(ValueError, match="must be 0"):
        RosenbrockTableau(**{**fields, "A": upper})


# ----------------------------------------------------------------------------- problems
# One small model holds every test problem (one compiled kernel); rates set to zero freeze a part.
#   linear chain u1 -> u2 -> u3 (exact: the matrix exponential), w' = -kw w^3 (exact: 1/sqrt(1 + 2 kw t)),
#   Robertson's stiff chemical kinetics r1, r2, r3 (reference: scipy Radau at a tight tolerance)
_LINEAR = ("ka", "kb", "kc")
_ROBERTSON = {"k1": 0.04, "k2": 3e7, "k3": 1e4}


def _problem() -> ModelSpec:
    names = ("u1", "u2", "u3", "w", "r1", "r2", "r3")
    u1, u2, u3, w, r1, r2, r3 = sp.symbols(names)
    ka, kb, kc, kw, k1, k2, k3 = sp.symbols(_LINEAR + ("kw",) + tuple(_ROBERTSON))
    rhs = (-ka * u1, ka * u1 - kb * u2, kb * u2 - kc * u3, -kw * w**3,
           -k1 * r1 + k3 * r2 * r3, k1 * r1 - k3 * r2 * r3 - k2 * r2 * r2, k2 * r2 * r2)
    initial = dict(u1=1.0, w=1.0, r1=1.0)
    states = tuple(State(s, "1", f"test state {s}", initial.get(s, 0.0)) for s in names)
    params = tuple(Parameter(str(k), 0.0, "1/day", 0.0, 1e9, "test problem") for k in (ka, kb, kc, kw, k1, k2, k3))
    return ModelSpec("solver_conformance", states, params, rhs)


def _y0(model):
    return np.array([s.initial for s in model.states])


def _params(model, **values):
    p = np.zeros(len(model.parameters))
    for k, v in values.items():
        p[model.parameter_index(k)] = v
    return p


def _no_events(model):
    return ScheduleBuilder(model).build()


@pytest.fixture(scope="module")
def problem():
    return _problem()


def _fixed_steps(model, solver_id, p, t_end, h):
    """End state after steps of exactly ``h`` (h_max): the tolerances are so loose that every step is
    accepted and the first one is already h."""
    opts = SolverOptions(method=solver_id, rtol=1e4, atol_scale=1e4, h_max=h)
    tr = simulate(model, _y0(model)[None], p[None], _no_events(model), np.array([0.0, t_end]), opts, retry=False)
    assert tr.status[0] == 0 and tr.steps[0] == round(t_end / h)
    return tr.y_end[0]


@pytest.mark.parametrize("solver_id", IDS)
def test_reaches_its_declared_order(problem, solver_id):
    """Error against the exact solution over four step sizes: the fitted slope of log(error) against
    log(h) is the declared order on a linear system, and at least that (less 0.2, the pre-asymptotic
    range) on the nonlinear w' = -w^3."""
    from scipy.linalg import expm

    order = SOLVERS.get(solver_id).order
    t_end = 2.0
    rates = dict(ka=1.0, kb=2.5, kc=0.7, kw=1.0)
    p = _params(problem, **rates)
    L = np.array([[-1.0, 0.0, 0.0], [1.0, -2.5, 0.0], [0.0, 2.5, -0.7]])
    exact_u = expm(L * t_end) @ np.array([1.0, 0.0, 0.0])
    exact_w = 1.0 / np.sqrt(1.0 + 2.0 * t_end)
    hs = t_end / np.array([20, 40, 80, 160])
    ends = np.array([_fixed_steps(problem, solver_id, p, t_end, h) for h in hs])
    err_u, err_w = np.max(np.abs(ends[:, :3] - exact_u), axis=1), np.abs(ends[:, 3] - exact_w)
    slope_u, slope_w = (np.polyfit(np.log(hs), np.log(err), 1)[0] for err in (err_u, err_w))
    assert slope_u == pytest.approx(order, abs=0.1), (err_u, slope_u)
    assert slope_w > order - 0.2, (err_w, slope_w)


_ROBERTSON_TIMES = (0.4, 40.0, 4000.0, 40000.0)


@pytest.fixture(scope="module")
def robertson_reference():
    from scipy.integrate import solve_ivp

    k1, k2, k3 = _ROBERTSON.values()

    def f(_t, r):
        return [-k1 * r[0] + k3 * r[1] * r[2], k1 * r[0] - k3 * r[1] * r[2] - k2 * r[1] ** 2, k2 * r[1] ** 2]

    def jac(_t, r):
        return [[-k1, k3 * r[2], k3 * r[1]], [k1, -k3 * r[2] - 2 * k2 * r[1], -k3 * r[1]], [0.0, 2 * k2 * r[1], 0.0]]

    sol = solve_ivp(f, (0.0, _ROBERTSON_TIMES[-1]), [1.0, 0.0, 0.0], method="Radau", t_eval=_ROBERTSON_TIMES,
                    rtol=1e-11, atol=1e-16, jac=jac)
    assert sol.success
    return sol.y.T


@pytest.mark.parametrize("solver_id", IDS)
def test_finishes_robertsons_stiff_problem(problem, robertson_reference, solver_id):
    """Robertson's kinetics (rates 0.04 to 3e7; concentrations from 1 down to 1e-7) at rtol 1e-6:
    the solver finishes in a few hundred steps, each concentration within 10 rtol (relative) of the
    Radau solution at the end of each of four spans from 0.4 to 40,000 (end states, which are not
    interpolated)."""
    rtol = 1e-6
    opts = SolverOptions(method=solver_id, rtol=rtol, atol_scale=1e-12, h_max=1e5)
    for t_end, ref in zip(_ROBERTSON_TIMES, robertson_reference):
        tr = simulate(problem, _y0(problem)[None], _params(problem, **_ROBERTSON)[None], _no_events(problem),
                      np.array([0.0, t_end]), opts, retry=False)
        assert tr.status[0] == 0 and tr.steps[0] < 2000, (t_end, tr.status, tr.steps)
        rel = np.abs(tr.y_end[0, 4:] - ref) / ref
        assert np.all(rel < 10 * rtol), (t_end, rel)


@pytest.mark.parametrize("solver_id", IDS)
def test_jax_backend_runs_the_same_steps(problem, solver_id):
    """The JAX backend reads the same tableau: on the order and stiff problems it takes the
    kernel's steps, with states within 1e-8 relative."""
    pytest.importorskip("jax")
    y0 = np.tile(_y0(problem), (2, 1))
    p = np.stack([_params(problem, ka=1.0, kb=2.5, kc=0.7, kw=1.0), _params(problem, **_ROBERTSON)])
    t_out = np.array([0.0, 0.5, 4.0, 40.0])
    runs = [simulate(problem, y0, p, _no_events(problem), t_out, SolverOptions(method=solver_id, rtol=1e-6, backend=b),
                     retry=False) for b in ("numba", "jax")]
    assert np.array_equal(runs[0].status, runs[1].status) and (runs[0].status == 0).all()
    assert np.array_equal(runs[0].steps, runs[1].steps)
    np.testing.assert_allclose(runs[1].y, runs[0].y, rtol=1e-8, atol=1e-15)
