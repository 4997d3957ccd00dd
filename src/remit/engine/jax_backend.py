"""Optional JAX backend of the integrator (``SolverOptions(backend="jax")``, ``remit run --backend jax``).

The same methods (any solver of :data:`remit.engine.solvers.SOLVERS`, read from its tableau
and unrolled when traced), step-size control, restart estimate, event rules, cubic Hermite
outputs and failure codes as the numba kernel (:mod:`remit.engine._kernel`), written as one
``jax.lax.while_loop`` per patient and ``jax.vmap``-ed over patients, so that it can run on
an accelerator. Differences from the kernel: the Jacobian is dense and W is factorised by
LU with partial pivoting (the kernel uses a generated sparse LU with a static pivot order),
so results agree with the kernel to round-off, not bit for bit (tests/test_engine.py checks
1e-6 relative). On a CPU it is much slower than the kernel; it exists for GPUs.

Needs ``jax`` (``pip install 'remit[jax]'``); the import happens on first use only.
"""

from __future__ import annotations

import numpy as np

from remit.engine.codes import Event, Status
from remit.engine.solvers import Solver
from remit.model.spec import ModelSpec

EPS_T = 1e-12  # times within this many days count as equal (as in the kernel)


class JaxUnavailable(RuntimeError):
    """JAX is not installed."""


def require_jax():
    try:
        import jax
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise JaxUnavailable("the jax backend needs JAX: pip install 'remit[jax]' (or choose --backend numba)") from exc
    jax.config.update("jax_enable_x64", True)
    if not jax.config.jax_compilation_cache_dir:  # compiled code is kept across runs, as numba's is
        from remit.model.codegen import cache_root

        jax.config.update("jax_compilation_cache_dir", str(cache_root() / "jax"))
    return jax


_COMPILED: dict[tuple[str, Solver], object] = {}


def _compiled(spec: ModelSpec, solver: Solver):
    """The jitted, patient-vmapped integrator for ``spec``'s equations and ``solver`` (values are
    arguments, as in the kernel)."""
    key = (spec.structure_hash(), solver)
    if key not in _COMPILED:
        _COMPILED[key] = _compile(spec, solver)
    return _COMPILED[key]


def _compile(spec: ModelSpec, solver: Solver):
    import sympy as sp

    jax = require_jax()
    jnp = jax.numpy
    lax = jax.lax
    from jax.scipy.linalg import lu_factor, lu_solve

    ys, ps = spec.symbols()
    n = len(ys)
    rhs_l = sp.lambdify((list(ys), list(ps)), list(spec.rhs), modules="jax", cse=True)
    jac_l = sp.lambdify((list(ys), list(ps)), spec.jacobian(), modules="jax", cse=True)

    def rhs(y, p):
        return jnp.stack([jnp.asarray(v, dtype=jnp.float64) * jnp.ones(()) for v in rhs_l(y, p)])

    # the method, as Python numbers: traced into straight-line stages, zero terms left out
    tab = solver.tableau
    s, gamma, ctrl = tab.stages, tab.gamma, solver.controller_exponent
    A, C, weights, err_weights, starts = tab.A.tolist(), tab.C.tolist(), tab.m.tolist(), tab.error.tolist(), tab.starts.tolist()

    def summed(coef, ks, start, stop, base=None):  # [base +] sum of coef[j] K_j, start <= j < stop, from the left
        terms = [coef[j] * ks[j] for j in range(start, stop) if coef[j] != 0.0]
        return sum(terms, base) if base is not None else sum(terms[1:], terms[0])

    def stage_rhs(f, coef, ks, stop, inv_h):  # f + sum_j coef[j] K_j / h, as the kernel's stages (remit.engine.stages)
        nz = [j for j in range(stop) if coef[j] != 0.0]
        if len(nz) == 1:
            return f + (coef[nz[0]] * inv_h) * ks[nz[0]]
        return f + summed(coef, ks, 0, stop) * inv_h if nz else f

    def jac(y, p):
        return jnp.asarray(jac_l(y, p), dtype=jnp.float64).reshape(n, n)

    def apply_event(y, p, kind, idx, val, pidx):
        scale = jnp.where(pidx >= 0, p[jnp.maximum(pidx, 0)], 1.0)
        yi = jnp.minimum(idx, n - 1)
        y_add = y.at[yi].add(val * scale)
        y_kill = y.at[yi].multiply(jnp.exp(-val * scale))
        y = jnp.where(kind == Event.ADD, y_add, jnp.where(kind == Event.LOG_KILL, y_kill, y))
        p = jnp.where(kind == Event.SET_PARAM, p.at[idx].set(val), p)
        return y, p

    def initial_step(y, p, f0, atol, rtol, h_max):
        sc = atol + rtol * jnp.abs(y)
        d0 = jnp.sqrt(jnp.mean((y / sc) ** 2))
        d1 = jnp.sqrt(jnp.mean((f0 / sc) ** 2))
        h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / jnp.where(d1 > 0, d1, 1.0))
        h0 = jnp.minimum(h0, h_max)
        f1 = rhs(y + h0 * f0, p)
        d2 = jnp.sqrt(jnp.mean(((f1 - f0) / sc) ** 2)) / h0
        big = jnp.maximum(d1, d2)
        h1 = jnp.where(big <= 1e-15, jnp.maximum(1e-6, h0 * 1e-3), (0.01 / jnp.where(big > 0, big, 1.0)) ** 0.25)
        return jnp.minimum(jnp.minimum(100.0 * h0, h1), h_max)

    def one(y0, p0, t_start, ev_t, ev_kind, ev_idx, ev_val, ev_pidx, t_out, rtol, atol, h_max, max_steps, record):
        n_ev, n_out = ev_t.shape[0], t_out.shape[0]
        t_end = t_out[n_out - 1]
        t0 = jnp.maximum(t_start, t_out[0])
        # before the start: parameter-setting events apply (the protocol in force), outputs hold y0
        early = ev_t < t0 - EPS_T
        p = p0
        for_set = early & (ev_kind == Event.SET_PARAM)

        def set_early(i, p):
            return jnp.where(for_set[i], p.at[ev_idx[i]].set(ev_val[i]), p)

        p = lax.fori_loop(0, n_ev, set_early, p)
        e0 = jnp.sum(early).astype(jnp.int64)
        before = t_out < t0 - EPS_T
        out = jnp.where(before[:, None], y0[record][None, :], jnp.nan)
        k0 = jnp.sum(before).astype(jnp.int64)

        # carry: t, y, p, f0, h, e, k_out, steps, status, fresh (f0 stale), restart, done, out, y_end
        init = (t0, y0, p, jnp.zeros(n), jnp.asarray(0.0), e0, k0, jnp.asarray(0, jnp.int64), jnp.asarray(Status.OK, jnp.int64),
                jnp.asarray(True), jnp.asarray(True), jnp.asarray(False), out, jnp.full(n, jnp.nan))

        def cond(c):
            return ~c[11]

        def body(c):
            t, y, p, f0, h, e, k_out, steps, status, fresh, restart, done, out, y_end = c
            ev_due = (e < n_ev) & (ev_t[jnp.minimum(e, n_ev - 1)] <= t + EPS_T)
            out_due = (~ev_due) & (k_out < n_out) & (t_out[jnp.minimum(k_out, n_out - 1)] <= t + EPS_T)
            finished = (~ev_due) & (~out_due) & (t >= t_end - EPS_T)
            step = (~ev_due) & (~out_due) & (~finished)

            # 1. an event due now
            ei = jnp.minimum(e, n_ev - 1)
            y_ev, p_ev = apply_event(y, p, ev_kind[ei], ev_idx[ei], ev_val[ei], ev_pidx[ei])
            # 2. an output at this instant (post-event values)
            ki = jnp.minimum(k_out, n_out - 1)
            out_now = out.at[ki].set(y[record])

            # 3. one step attempt towards the next event or the end
            def attempt(_):
                f = jnp.where(fresh, rhs(y, p), f0)
                hh = jnp.where(restart, initial_step(y, p, f, atol, rtol, h_max), h)
                t_stop = jnp.where(e < n_ev, jnp.minimum(ev_t[ei], t_end), t_end)
                hh = jnp.minimum(hh, h_max)
                last = t + hh >= t_stop - EPS_T
                hh = jnp.where(last, t_stop - t, hh)
                inv_h = 1.0 / hh
                lu = lu_factor(jnp.eye(n) / (hh * gamma) - jac(y, p))
                ks = [lu_solve(lu, f)]
                ytmp, fs = y, f
                for i in range(1, s):
                    if starts[i] < i:  # an argument of its own (else the previous stage's, and its f)
                        ytmp = summed(A[i], ks, starts[i], i, y if starts[i] == 0 else ytmp)
                        fs = rhs(ytmp, p)
                    ks.append(lu_solve(lu, stage_rhs(fs, C[i], ks, i, inv_h)))
                ynew = summed(weights, ks, starts[s], s, y if starts[s] == 0 else ytmp)
                est = summed(err_weights, ks, 0, s)
                err = jnp.sqrt(jnp.mean((est / (atol + rtol * jnp.maximum(jnp.abs(y), jnp.abs(ynew)))) ** 2))
                finite = jnp.isfinite(err) & jnp.isfinite(jnp.sum(ynew))
                accept = finite & (err <= 1.0)
                ynew = jnp.maximum(ynew, 0.0)
                fnew = rhs(ynew, p)

                def interp(carry):
                    k, o = carry
                    s = (t_out[k] - t) * inv_h
                    v = ((1 + 2 * s) * (1 - s) ** 2 * y + s * (1 - s) ** 2 * hh * f + s * s * (3 - 2 * s) * ynew
                         + s * s * (s - 1) * hh * fnew)
                    return k + 1, o.at[k].set(jnp.maximum(v[record], 0.0))

                def more(carry):
                    k, _ = carry
                    return accept & (k < n_out) & (t_out[jnp.minimum(k, n_out - 1)] < t + hh - EPS_T)

                k_new, o_new = lax.while_loop(more, interp, (k_out, out))
                fac_acc = jnp.minimum(5.0, jnp.maximum(0.2, 0.9 * (1.0 / jnp.maximum(err, 1e-10)) ** ctrl))
                fac_rej = jnp.maximum(0.1, 0.9 * (1.0 / jnp.where(finite, err, 1.0)) ** ctrl)
                h_next = jnp.where(~finite, hh * 0.25, jnp.where(accept, hh * fac_acc, hh * fac_rej))
                t_next = jnp.where(accept, jnp.where(last, t_stop, t + hh), t)
                fail = jnp.where(~finite & (h_next < 1e-12), Status.NOT_FINITE,
                                 jnp.where(finite & ~accept & (h_next < 1e-12), Status.STEP_UNDERFLOW, Status.OK))
                return (t_next, jnp.where(accept, ynew, y), jnp.where(accept, fnew, f), h_next, k_new, o_new, fail)

            over = steps >= max_steps
            t_s, y_s, f_s, h_s, k_s, o_s, fail = attempt(None)
            fail = jnp.where(over, Status.MAX_STEPS, fail)
            t_s = jnp.where(over, t, t_s)

            sel = lambda a, b, cnd: jnp.where(cnd, a, b)  # noqa: E731
            t_n = sel(t_s, t, step)
            y_n = sel(y_ev, sel(y_s, y, step & ~over), ev_due)
            p_n = sel(p_ev, p, ev_due)
            f_n = sel(f_s, f0, step & ~over)
            h_n = sel(h_s, h, step & ~over)
            e_n = e + ev_due.astype(jnp.int64)
            k_n = sel(k_out + 1, sel(k_s, k_out, step & ~over), out_due)
            out_n = sel(out_now, sel(o_s, out, step & ~over), out_due)
            steps_n = steps + (step & ~over).astype(jnp.int64)
            status_n = sel(fail, status, step)
            fresh_n = sel(True, sel(False, fresh, step), ev_due)
            restart_n = sel(True, sel(False, restart, step), ev_due)
            failed = step & (status_n != Status.OK)
            done_n = finished | failed
            y_end_n = sel(y, y_end, finished)
            return (t_n, y_n, p_n, f_n, h_n, e_n, k_n, steps_n, status_n, fresh_n, restart_n, done_n, out_n, y_end_n)

        c = lax.while_loop(cond, body, init)
        return c[12], c[13], c[8], c[7]

    batched = jax.vmap(one, in_axes=(0, 0, 0) + (None,) * 11)
    return jax.jit(batched)


def integrate(model: ModelSpec, solver: Solver, y0: np.ndarray, params: np.ndarray, t_start: np.ndarray, ev: tuple,
              t_out: np.ndarray, rtol: float, atol: np.ndarray, h_max: float, max_steps: int, record: np.ndarray):
    """(out (n, T, R), y_end (n, S), status (n,), steps (n,)) as numpy arrays; ``ev`` = (t, kind, idx, val, pidx)."""
    fn = _compiled(model, solver)
    n = y0.shape[0]
    width = max(8, 1 << max(0, n - 1).bit_length())  # batches padded to a power of two: few shapes, few compiles
    if n and width > n:
        pad = np.r_[np.arange(n), np.full(width - n, n - 1)]
        y0, params, t_start = y0[pad], params[pad], t_start[pad]
    ev_t, ev_kind, ev_idx, ev_val, ev_pidx = ev
    jnp = require_jax().numpy
    if ev_t.shape[0] == 0:  # one inert event past the end keeps the array shapes non-empty
        ev_t, ev_kind, ev_idx = np.array([np.inf]), np.array([Event.SET_PARAM]), np.array([0])
        ev_val, ev_pidx = np.array([params[0, 0] if params.size else 0.0]), np.array([-1])
    out, y_end, status, steps = fn(jnp.asarray(y0), jnp.asarray(params), jnp.asarray(t_start), jnp.asarray(ev_t),
                                   jnp.asarray(ev_kind, dtype=jnp.int64), jnp.asarray(ev_idx, dtype=jnp.int64),
                                   jnp.asarray(ev_val), jnp.asarray(ev_pidx, dtype=jnp.int64), jnp.asarray(t_out),
                                   rtol, jnp.asarray(atol), h_max, max_steps, jnp.asarray(record, dtype=jnp.int64))
    return (np.asarray(out)[:n], np.asarray(y_end)[:n], np.asarray(status, dtype=np.int64)[:n],
            np.asarray(steps, dtype=np.int64)[:n])
