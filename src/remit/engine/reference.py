"""An independent reference integration: one patient with ``scipy.integrate.solve_ivp``.

Used to verify the compiled engine (tests) and as the naive baseline of the throughput
benchmark. It integrates segment by segment between the schedule's events with the same
event rules as :mod:`remit.engine._kernel` (it calls the kernel's own ``_apply_event``),
evaluates at the same output times, and clips states at zero at outputs and segment ends
(the kernel clips after every step).
"""

from __future__ import annotations

import numpy as np

from remit.engine.codes import Event
from remit.therapies.schedule import Schedule

TOL = 1e-12  # time tolerance the kernel uses to decide "an event/output is due now"


def solve_ivp_patient(kernel, y0: np.ndarray, p0: np.ndarray, schedule: Schedule, t_out: np.ndarray,
                      method: str = "LSODA", rtol: float = 1e-6, atol=1e-9, h_max: float = np.inf,
                      ) -> tuple[np.ndarray, int, int, bool]:
    """States at ``t_out`` (T, S), rhs evaluations, Jacobian evaluations, success.

    ``kernel`` is the compiled model module (:func:`remit.model.codegen.compile_model`).
    Events due at a time are applied before the outputs at that time (post-event values);
    parameter-setting events before ``t_out[0]`` are in force from the start.
    """
    from scipy.integrate import solve_ivp

    keep = schedule.t <= t_out[-1]
    ev_t, ev_kind, ev_idx = schedule.t[keep], schedule.kind[keep], schedule.idx[keep]
    ev_val, ev_pidx = schedule.val[keep], schedule.pidx[keep]
    n = y0.shape[0]
    y = np.array(y0, dtype=np.float64)
    p = np.array(p0, dtype=np.float64)
    rhs, jacf = kernel.rhs, kernel.jac

    def f(_t, yy):
        dy = np.empty(n)
        rhs(yy, p, dy)
        return dy

    def jac(_t, yy):
        J = np.zeros((n, n))
        jacf(yy, p, J)
        return J

    n_out, n_ev = t_out.shape[0], ev_t.shape[0]
    out = np.full((n_out, n), np.nan)
    t, t_end = float(t_out[0]), float(t_out[-1])
    e = k_out = nfev = njev = 0
    while e < n_ev and ev_t[e] < t - TOL:  # protocol already in force before the start
        if ev_kind[e] == Event.SET_PARAM:
            p[ev_idx[e]] = ev_val[e]
        e += 1
    while True:
        while e < n_ev and ev_t[e] <= t + TOL:
            kernel._apply_event(y, p, ev_kind[e], ev_idx[e], ev_val[e], ev_pidx[e])
            e += 1
        while k_out < n_out and t_out[k_out] <= t + TOL:
            out[k_out] = y
            k_out += 1
        if t >= t_end - TOL:
            return out, nfev, njev, True
        t_stop = min(t_end, float(ev_t[e])) if e < n_ev else t_end
        if t_stop - t <= TOL:  # an event within the time tolerance: applied at the top of the loop
            t = t_stop
            continue
        j = k_out
        while j < n_out and t_out[j] < t_stop - TOL:
            j += 1
        t_eval = np.append(t_out[k_out:j], t_stop)
        sol = solve_ivp(f, (t, t_stop), y, method=method, t_eval=t_eval, rtol=rtol, atol=atol, jac=jac, max_step=h_max)
        nfev += int(sol.nfev)
        njev += int(sol.njev)
        if not sol.success:
            return out, nfev, njev, False
        out[k_out:j] = np.maximum(sol.y[:, :-1].T, 0.0)
        k_out = j
        y = np.maximum(sol.y[:, -1], 0.0)
        t = t_stop
