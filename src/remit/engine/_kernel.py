# Template of the compiled integrator. remit.model.codegen appends this file's text, with the
# solvers' stages filled in, to the generated `rhs(y, p, dy)` and `jac(y, p, J)` of one model,
# so that numba compiles (and caches) the solver specialised to that model. Not importable on
# its own.
#
# Methods: the linearly implicit Rosenbrock methods of remit.engine.solvers, one
# W = I/(h*gamma) - J per step,
#   W K_i = f(y + sum_j A_ij K_j) + sum_j C_ij K_j / h,  y_new = y + sum_i m_i K_i,
# with the error estimate sum_i (m_i - m_hat_i) K_i. Their stages are generated from their
# tableaus into the two lines marked ``# <stage arrays>`` and ``# <stages>`` below, with
# ``SOLVER_IDS``, ``GAMMA`` and ``CONTROLLER_EXPONENT`` (remit.engine.stages); ``method`` is
# the solver's index in ``SOLVER_IDS``. The step-size controller uses the embedded order.
# The analytic Jacobian is re-evaluated every step; W is factorised by the generated sparse
# LU (``w_factor``/``w_solve``, static pivot order) unless an elimination multiplier
# exceeds PIVOT_GROWTH, in which case that step uses a dense LU with partial pivoting.
# Outputs between steps come from cubic Hermite interpolation (order 3), so the output grid
# does not force steps. Scheduled events split the integration into segments; after each
# one the step size restarts from the standard estimate of Hairer, Norsett & Wanner
# (``_initial_step``). Every patient is integrated on its own (no state shared between
# patients), so results do not depend on threads or batching.
# error_model="numpy": divisions are not checked for a zero divisor (a zero gives inf/nan,
# which the step's finiteness check rejects), which removes a branch per division.
# fastmath "contract" (fused multiply-add) only in the solver's own vector arithmetic; the
# generated rhs and Jacobian keep strict IEEE order, so model variants compare bit for bit.

import math

import numpy as np
from numba import njit, prange

from remit.engine.codes import Event, Status

PIVOT_GROWTH = 1e6  # largest elimination multiplier accepted from the static-order sparse LU
# (multipliers reach ~3e3 at h = 30 d because the states have very different units; the
# solves stay accurate to ~1e-13 there. The bound only catches collapsed pivots.)


@njit(cache=True, fastmath={"contract", "nsz"}, error_model="numpy")
def _lu_factor(a, piv):
    n = a.shape[0]
    for k in range(n):
        m = k
        big = abs(a[k, k])
        for i in range(k + 1, n):
            if abs(a[i, k]) > big:
                big = abs(a[i, k])
                m = i
        piv[k] = m
        if big == 0.0:
            return False
        if m != k:
            for j in range(n):
                tmp = a[k, j]
                a[k, j] = a[m, j]
                a[m, j] = tmp
        inv = 1.0 / a[k, k]
        for i in range(k + 1, n):
            if a[i, k] != 0.0:
                a[i, k] *= inv
                f = a[i, k]
                for j in range(k + 1, n):
                    a[i, j] -= f * a[k, j]
    return True


@njit(cache=True, fastmath={"contract", "nsz"}, error_model="numpy")
def _lu_solve(a, piv, b):
    n = a.shape[0]
    for k in range(n):
        m = piv[k]
        if m != k:
            tmp = b[k]
            b[k] = b[m]
            b[m] = tmp
    for i in range(n):
        s = b[i]
        for j in range(i):
            s -= a[i, j] * b[j]
        b[i] = s
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s -= a[i, j] * b[j]
        b[i] = s / a[i, i]


@njit(cache=True, fastmath={"contract", "nsz"}, error_model="numpy")
def _solve(dense, lu, W, piv, b):
    if dense:
        _lu_solve(W, piv, b)
    else:
        w_solve(lu, b)


@njit(cache=True, fastmath={"contract", "nsz"}, error_model="numpy")
def _failed(out, k_out, y_end, code, steps):
    """A failed solve: outputs from ``k_out`` on and the end state are NaN (neither is pre-filled)."""
    for k in range(k_out, out.shape[0]):
        for j in range(out.shape[1]):
            out[k, j] = np.nan
    for j in range(y_end.shape[0]):
        y_end[j] = np.nan
    return code, steps


@njit(cache=True, fastmath={"contract", "nsz"}, error_model="numpy")
def _apply_event(y, p, kind, idx, val, pidx):
    scale = p[pidx] if pidx >= 0 else 1.0
    if kind == Event.ADD:
        y[idx] += val * scale
    elif kind == Event.SET_PARAM:
        p[idx] = val
    elif kind == Event.LOG_KILL:
        y[idx] *= math.exp(-val * scale)


@njit(cache=True, fastmath={"contract", "nsz"}, error_model="numpy")
def _initial_step(y, p, f0, atol, rtol, h_max, y1, f1):
    """Starting step size after a restart (Hairer, Norsett & Wanner, Solving ODEs I, sec. II.4):
    the step at which an explicit Euler step's scaled change, and the scaled change of f over
    it, are about the tolerance, for a method of order 3. One extra rhs evaluation."""
    n = y.shape[0]
    d0 = 0.0
    d1 = 0.0
    for i in range(n):
        sc = atol[i] + rtol * abs(y[i])
        d0 += (y[i] / sc) ** 2
        d1 += (f0[i] / sc) ** 2
    d0 = math.sqrt(d0 / n)
    d1 = math.sqrt(d1 / n)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    h0 = min(h0, h_max)
    for i in range(n):
        y1[i] = y[i] + h0 * f0[i]
    rhs(y1, p, f1)
    d2 = 0.0
    for i in range(n):
        sc = atol[i] + rtol * abs(y[i])
        d2 += ((f1[i] - f0[i]) / sc) ** 2
    d2 = math.sqrt(d2 / n) / h0
    big = max(d1, d2)
    h1 = max(1e-6, h0 * 1e-3) if big <= 1e-15 else (0.01 / big) ** 0.25
    return min(100.0 * h0, h1, h_max)


@njit(cache=True, fastmath={"contract", "nsz"}, error_model="numpy")
def integrate_one(y0, p0, t_start, ev_t, ev_kind, ev_idx, ev_val, ev_pidx, t_out, rtol, atol, h_max, max_steps, out,
                  record, y_end, method):
    """Integrate one patient from ``t_start``; return (status, steps).

    Writes states ``record`` (indices) at ``t_out`` into ``out`` (T, len(record)) and every
    state at ``t_out[-1]`` into ``y_end``. Outputs before ``t_start`` hold ``y0``;
    parameter-setting events before it are applied at the start (the protocol already in
    force), other earlier events are skipped. ``method``: the solver's index in ``SOLVER_IDS``.
    """
    n = y0.shape[0]
    y = y0.copy()
    p = p0.copy()
    ynew = np.empty(n)
    f0 = np.empty(n)
    f1 = np.empty(n)
    fnew = np.empty(n)
    # <stage arrays>
    ytmp = np.empty(n)
    J = np.zeros((n, n))
    W = np.empty((n, n))
    jv = np.empty(max(JAC_NONZEROS, 1))
    lu = np.empty(LU_NONZEROS)
    piv = np.empty(n, dtype=np.int64)
    gamma = GAMMA[method]
    ctrl = CONTROLLER_EXPONENT[method]  # 1 / (embedded order + 1)
    n_ev = ev_t.shape[0]
    n_out = t_out.shape[0]
    t_end = t_out[n_out - 1]
    t = max(t_start, t_out[0])
    e = 0
    k_out = 0
    steps = 0
    while e < n_ev and ev_t[e] < t - 1e-12:
        if ev_kind[e] == Event.SET_PARAM:
            p[ev_idx[e]] = ev_val[e]
        e += 1
    n_rec = record.shape[0]
    while k_out < n_out and t_out[k_out] < t - 1e-12:
        for m in range(n_rec):
            out[k_out, m] = y[record[m]]
        k_out += 1
    restart = True
    h = 0.0
    while True:
        # events due now, then outputs at this instant (post-event values)
        while e < n_ev and ev_t[e] <= t + 1e-12:
            _apply_event(y, p, ev_kind[e], ev_idx[e], ev_val[e], ev_pidx[e])
            restart = True
            e += 1
        while k_out < n_out and t_out[k_out] <= t + 1e-12:
            for m in range(n_rec):
                out[k_out, m] = y[record[m]]
            k_out += 1
        if t >= t_end - 1e-12:
            for j in range(n):
                y_end[j] = y[j]
            return Status.OK, steps
        t_stop = t_end
        if e < n_ev and ev_t[e] < t_stop:
            t_stop = ev_t[e]
        rhs(y, p, f0)
        if restart:
            h = _initial_step(y, p, f0, atol, rtol, h_max, ytmp, f1)
            restart = False
        while t < t_stop - 1e-12:
            if steps >= max_steps:
                return _failed(out, k_out, y_end, Status.MAX_STEPS, steps)
            steps += 1
            if h > h_max:
                h = h_max
            last = False
            if t + h >= t_stop - 1e-12:
                h = t_stop - t
                last = True
            jac_nz(y, p, jv)
            inv_hg = 1.0 / (h * gamma)
            dense = not (w_factor(jv, inv_hg, lu) <= PIVOT_GROWTH)
            if dense:
                jac_scatter(jv, J)
                for i in range(n):
                    for j in range(n):
                        W[i, j] = -J[i, j]
                    W[i, i] += inv_hg
                if not _lu_factor(W, piv):
                    h *= 0.25
                    if h < 1e-12:
                        return _failed(out, k_out, y_end, Status.STEP_UNDERFLOW, steps)
                    continue
            inv_h = 1.0 / h
            # <stages>
            err = math.sqrt(err / n)
            if not (math.isfinite(err) and math.isfinite(total)):
                h *= 0.25
                if h < 1e-12:
                    return _failed(out, k_out, y_end, Status.NOT_FINITE, steps)
                continue
            if err <= 1.0:
                for i in range(n):
                    if ynew[i] < 0.0:
                        ynew[i] = 0.0
                rhs(ynew, p, fnew)
                # Hermite interpolation for outputs strictly inside (t, t + h)
                while k_out < n_out and t_out[k_out] < t + h - 1e-12:
                    s = (t_out[k_out] - t) * inv_h
                    h00 = (1 + 2 * s) * (1 - s) * (1 - s)
                    h10 = s * (1 - s) * (1 - s) * h
                    h01 = s * s * (3 - 2 * s)
                    h11 = s * s * (s - 1) * h
                    for m in range(n_rec):
                        j = record[m]
                        v = h00 * y[j] + h10 * f0[j] + h01 * ynew[j] + h11 * fnew[j]
                        out[k_out, m] = v if v > 0.0 else 0.0
                    k_out += 1
                t = t_stop if last else t + h
                for i in range(n):
                    y[i] = ynew[i]
                    f0[i] = fnew[i]
                fac = 0.9 * (1.0 / max(err, 1e-10)) ** ctrl
                h *= min(5.0, max(0.2, fac))
            else:
                fac = 0.9 * (1.0 / err) ** ctrl
                h *= max(0.1, fac)
                if h < 1e-12:
                    return _failed(out, k_out, y_end, Status.STEP_UNDERFLOW, steps)


@njit(cache=True, parallel=True, error_model="numpy")
def integrate_batch(y0, P, t_start, ev_t, ev_kind, ev_idx, ev_val, ev_pidx, t_out, rtol, atol, h_max, max_steps, out, record, y_end,
                    status, nsteps, method):
    """Integrate every patient (rows of ``y0``/``P``) in parallel over patients."""
    for i in prange(y0.shape[0]):
        s, k = integrate_one(y0[i], P[i], t_start[i], ev_t, ev_kind, ev_idx, ev_val, ev_pidx, t_out, rtol, atol, h_max, max_steps, out[i],
                             record, y_end[i], method)
        status[i] = s
        nsteps[i] = k


@njit(cache=True, parallel=True, error_model="numpy")
def check_batch(out, status, floor, nonneg):
    """Mark patients whose solve succeeded but whose outputs are not finite (3) or have a
    nonnegative state below ``floor`` (4); one pass over ``out`` (n, T, S), in parallel."""
    for i in prange(out.shape[0]):
        if status[i] != Status.OK:
            continue
        code = Status.OK
        for k in range(out.shape[1]):
            for j in range(out.shape[2]):
                v = out[i, k, j]
                if not math.isfinite(v):
                    code = Status.NOT_FINITE
                    break
                if nonneg[j] and v < floor[j] and code == Status.OK:
                    code = Status.NEGATIVE_STATE
            if code == Status.NOT_FINITE:
                break
        status[i] = code
