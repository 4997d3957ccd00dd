"""The compiled engine: sparse LU, methods, caching and determinism."""

import numba
import numpy as np
import pytest

from remit.engine.integrate import SolverOptions, simulate
from remit.diseases import build_model
from remit.model.codegen import compile_model, lu_plan
from remit.therapies.schedule import ScheduleBuilder


@pytest.fixture(scope="module")
def model():
    return build_model("multiple_sclerosis")


def _patients(model, n, seed=0):
    rng = np.random.default_rng(seed)
    y0 = np.array([s.initial for s in model.states]) * rng.uniform(0.7, 1.3, (n, len(model.states)))
    p0 = np.array([q.value for q in model.parameters]) * rng.uniform(0.8, 1.2, (n, len(model.parameters)))
    return y0, p0


def _schedule(model):
    b = ScheduleBuilder(model)
    b.dose(0, "cy", 2000, per="bsa_per_kg").set(4, "gcsf", 1).set(11, "gcsf", 0)
    for d in range(4):
        b.dose(30 + d, "cy", 50)
    b.dose(35, "hsc", 0.05, per="engraft_factor")
    return b.build()


def test_lu_plan_orders_every_state_and_keeps_the_pattern():
    nz = [(0, 1), (1, 0), (2, 0), (2, 1), (3, 3), (0, 3), (3, 2)]
    order, filled = lu_plan(4, nz)
    assert sorted(order) == [0, 1, 2, 3]
    assert set(nz) <= filled and all((i, i) in filled for i in range(4))


@pytest.mark.parametrize("g", [1e4, 1.0, 1.0 / (30 * 0.5)])
def test_sparse_lu_solves_w(model, g):
    k = compile_model(model)
    n = len(model.states)
    y0, p0 = _patients(model, 1, seed=3)
    y = np.maximum(y0[0], 0.05)
    J = np.zeros((n, n))
    k.jac(y, p0[0], J)
    jv = np.empty(k.JAC_NONZEROS)
    k.jac_nz(y, p0[0], jv)
    lu = np.empty(k.LU_NONZEROS)
    assert k.w_factor(jv, g, lu) <= k.PIVOT_GROWTH
    b = np.random.default_rng(1).normal(size=n)
    x = b.copy()
    k.w_solve(lu, x)
    np.testing.assert_allclose(x, np.linalg.solve(g * np.eye(n) - J, b), rtol=1e-9, atol=1e-12 * np.abs(x).max())


def test_compile_model_is_cached(model):
    assert compile_model(model) is compile_model(model)


def test_unknown_method_is_rejected(model):
    y0, p0 = _patients(model, 1)
    with pytest.raises(ValueError, match="method"):
        simulate(model, y0, p0, _schedule(model), np.array([0.0, 1.0]), SolverOptions(method="rk4"))


def test_results_do_not_depend_on_threads_or_batching(model):
    y0, p0 = _patients(model, 12)
    sched = _schedule(model)
    t_out = np.linspace(0.0, 400.0, 41)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate(model, y0, p0, sched, t_out)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = simulate(model, y0, p0, sched, t_out)
    finally:
        numba.set_num_threads(old)
    alone = simulate(model, y0[5:6], p0[5:6], sched, t_out)
    assert np.array_equal(one.y, many.y) and np.array_equal(one.steps, many.steps)
    assert np.array_equal(one.y[5], alone.y[0])


@pytest.mark.parametrize("method, rtol", [("rodas4", 1e-5), ("rodas3", 1e-5), ("ros3p", 5e-7)])
def test_methods_agree_with_a_tight_solution(model, method, rtol):
    y0, p0 = _patients(model, 3, seed=7)
    sched = _schedule(model)
    t_out = np.array([0.0, 20.0, 40.0, 100.0, 365.0, 730.0])
    ref = simulate(model, y0, p0, sched, t_out, SolverOptions(rtol=1e-10, atol_scale=1e-13)).y
    got = simulate(model, y0, p0, sched, t_out, SolverOptions(rtol=rtol, method=method))
    assert (got.status == 0).all()
    big = np.abs(ref) > 1e-3
    assert np.max(np.abs(got.y[big] - ref[big]) / np.abs(ref[big])) < 1e-4


def test_recording_fewer_states_changes_no_number(model):
    """``record`` only chooses what is stored: the recorded columns and the end state equal,
    bit for bit, those of a run that records every state."""
    y0, p0 = _patients(model, 12, seed=3)
    t_out = np.linspace(0.0, 400.0, 41)
    full = simulate(model, y0, p0, _schedule(model), t_out)
    some = simulate(model, y0, p0, _schedule(model), t_out, record=("cum_attack", "anc"))
    assert some.y.shape == (12, 41, 2) and some.state_names == ("cum_attack", "anc")
    assert np.array_equal(some["cum_attack"], full["cum_attack"]) and np.array_equal(some["anc"], full["anc"])
    assert np.array_equal(some.y_end, full.y[:, -1, :]) and np.array_equal(full.y_end, full.y[:, -1, :])
    none = simulate(model, y0, p0, _schedule(model), t_out, record=())
    assert none.y.shape == (12, 41, 0) and np.array_equal(none.y_end, full.y_end)


def test_a_failed_patient_has_nan_outputs_after_the_failure_and_a_nan_end_state(model):
    y0, p0 = _patients(model, 3, seed=4)
    t_out = np.linspace(0.0, 400.0, 41)
    traj = simulate(model, y0, p0, _schedule(model), t_out, SolverOptions(max_steps=20), retry=False)
    assert np.all(traj.status == 1)  # maximum number of steps
    assert np.all(np.isnan(traj.y_end))
    assert np.all(np.isfinite(traj.y[:, 0, :])) and np.all(np.isnan(traj.y[:, -1, :]))


def test_rodas4_takes_fewer_steps_than_rodas3_through_a_transplant(model):
    """The reason Rodas4 is the default: through conditioning, the order-3 method tracks each
    drug's exponential decay with short steps; order 4 needs far fewer at the same rtol."""
    y0, p0 = _patients(model, 6, seed=5)
    t_out = np.linspace(0.0, 120.0, 13)
    s3 = simulate(model, y0, p0, _schedule(model), t_out, SolverOptions(method="rodas3")).steps
    s4 = simulate(model, y0, p0, _schedule(model), t_out, SolverOptions(method="rodas4")).steps
    assert s4.sum() < 0.6 * s3.sum(), (s3, s4)


def test_jax_backend_gives_the_kernels_results(model):
    """The optional JAX backend runs the same Rodas4 steps: the same step counts and statuses,
    and states within 1e-6 relative of the numba kernel (dense vs sparse LU differ in round-off),
    with per-patient start times, recorded subsets and a failing patient."""
    pytest.importorskip("jax")
    y0, p0 = _patients(model, 5, seed=11)
    t_out = np.linspace(-30.0, 400.0, 44)
    t_start = np.array([-30.0, -10.0, 0.0, 0.0, 5.0])
    for opts in (SolverOptions(), SolverOptions(max_steps=60)):  # the second: some patients stop at the step limit
        a = simulate(model, y0, p0, _schedule(model), t_out, opts, t_start=t_start, retry=False)
        j = simulate(model, y0, p0, _schedule(model), t_out, SolverOptions(max_steps=opts.max_steps, backend="jax"),
                     t_start=t_start, retry=False)
        assert np.array_equal(a.status, j.status) and np.array_equal(a.steps, j.steps)
        assert np.array_equal(np.isnan(a.y), np.isnan(j.y)) and np.array_equal(np.isnan(a.y_end), np.isnan(j.y_end))
        big = np.abs(a.y) > 1e-6
        assert np.max(np.abs(j.y[big] - a.y[big]) / np.abs(a.y[big])) < 1e-6
        ok = a.status == 0
        assert np.allclose(j.y_end[ok], a.y_end[ok], rtol=1e-6, atol=1e-12)
    assert (a.status == 1).all()  # the step limit was reached, so the failure path was compared too
    sub = simulate(model, y0, p0, _schedule(model), t_out, SolverOptions(backend="jax"), t_start=t_start, record=("anc",))
    assert sub.y.shape == (5, 44, 1)


def test_unknown_backend_is_rejected(model):
    y0, p0 = _patients(model, 1)
    with pytest.raises(ValueError, match="unknown solver backend"):
        simulate(model, y0, p0, _schedule(model), np.array([0.0, 1.0]), SolverOptions(backend="cuda"))
