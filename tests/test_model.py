"""The model definition: declared once, documented, and numerically verified."""

import numpy as np
import pytest
import sympy as sp

from remit.engine.integrate import SolverOptions, simulate
from remit.engine.reference import solve_ivp_patient
from remit.diseases import build_model
from remit.model.codegen import compile_model

from synthetic import ahsct_test_schedule


@pytest.fixture(scope="module")
def model():
    return build_model("multiple_sclerosis")


def test_every_parameter_has_units_range_and_source(model):
    for p in model.parameters:
        assert p.unit and p.source and len(p.source) > 15, p.name
        assert p.low <= p.value <= p.high, p.name
    for s in model.states:
        assert s.unit and s.description, s.name


def test_generated_rhs_and_jacobian_match_the_symbolic_model(model):
    k = compile_model(model)
    y_sym, p_sym = model.symbols()
    rng = np.random.default_rng(0)
    y = np.array([max(s.initial, 0.1) for s in model.states]) * rng.uniform(0.5, 1.5, len(model.states))
    p = np.array([q.value for q in model.parameters])
    dy = np.zeros_like(y)
    k.rhs(y, p, dy)
    f = sp.lambdify([y_sym, p_sym], list(model.rhs), "numpy")
    np.testing.assert_allclose(dy, np.array(f(y, p), dtype=float), rtol=1e-10, atol=1e-12)
    J = np.zeros((len(y), len(y)))
    k.jac(y, p, J)
    jf = sp.lambdify([y_sym, p_sym], model.jacobian(), "numpy")
    np.testing.assert_allclose(J, np.array(jf(y, p), dtype=float), rtol=1e-10, atol=1e-12)


def test_engine_agrees_with_scipy_radau_at_tight_tolerance(model):
    """Verification of the compiled Rosenbrock kernel against an independent stiff solver (scipy Radau)."""
    k = compile_model(model)
    sched = ahsct_test_schedule(model)
    y0 = np.array([s.initial for s in model.states])
    p0 = np.array([q.value for q in model.parameters])
    t_out = np.array([0.0, 20.0, 40.0, 60.0, 200.0, 730.0])
    traj = simulate(model, y0[None], p0[None], sched, t_out, SolverOptions(rtol=1e-9, atol_scale=1e-12))
    assert traj.status[0] == 0
    ref, _, _, ok = solve_ivp_patient(k, y0, p0, sched, t_out, "Radau", rtol=1e-10, atol=1e-13)
    assert ok
    sim = traj.y[0]
    big = np.abs(ref) > 1e-3
    rel = np.abs(sim[big] - ref[big]) / np.abs(ref[big])
    bad = np.argwhere(big & (np.abs(sim - ref) > 1e-5 * np.abs(ref)))
    assert rel.max() < 1e-5, [(float(t_out[i]), model.state_names[j], sim[i, j], ref[i, j]) for i, j in bad[:8]]


def test_tolerance_convergence(model):
    """Default-tolerance results are within 1e-4 (relative) of a tight-tolerance run."""
    sched = ahsct_test_schedule(model)
    y0 = np.array([s.initial for s in model.states])[None]
    p0 = np.array([q.value for q in model.parameters])[None]
    t_out = np.linspace(0, 5 * 365.25, 60)
    a = simulate(model, y0, p0, sched, t_out).y[0, -1]
    b = simulate(model, y0, p0, sched, t_out, SolverOptions(rtol=1e-10, atol_scale=1e-13)).y[0, -1]
    big = np.abs(b) > 1e-3
    assert np.max(np.abs(a[big] - b[big]) / np.abs(b[big])) < 1e-4


def test_equations_hash_ignores_a_parameter_no_equation_uses():
    """A calibration stays valid when a parameter only an observer reads is added (the structure hash,
    which the generated code keys on, does change)."""
    from dataclasses import replace

    from remit.diseases import build_model
    from remit.model.spec import Parameter

    m = build_model("systemic_sclerosis", calibrated=False)
    extra = replace(m, parameters=(*m.parameters, Parameter("observer_only", 1.0, "1", 0.0, 2.0, "test", "unused")))
    assert extra.equations_hash() == m.equations_hash() and extra.structure_hash() != m.structure_hash()
    changed = replace(m, rhs=(m.rhs[0] * 2, *m.rhs[1:]))
    assert changed.equations_hash() != m.equations_hash()
