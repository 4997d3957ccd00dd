"""Batched integration of the compiled model over patients.

The hot path is numba code (:mod:`remit.engine._kernel`) running in parallel over
patients; this module only prepares arrays and checks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from remit.engine.codes import Status
from remit.engine.solvers import SOLVERS, Solver
from remit.model.codegen import compile_model
from remit.model.spec import ModelSpec
from remit.therapies.schedule import Schedule

BACKENDS = ("numba", "jax")
STATUS_TEXT = {int(s): s.text for s in Status}  # a status code in words (run outputs, provenance)
OK, MAX_STEPS, STEP_UNDERFLOW, NOT_FINITE, NEGATIVE_STATE = (Status.OK, Status.MAX_STEPS, Status.STEP_UNDERFLOW,
                                                             Status.NOT_FINITE, Status.NEGATIVE_STATE)
# A state declared nonnegative may dip below zero by round-off only: at most this much times its
# scale (max(1, |initial value|)), the same scale as the absolute tolerance.
NEGATIVE_TOLERANCE = 1e-9
# Largest fraction of a trial's patients allowed to end with solver_status != 0 (after the
# retry with safer settings) before `remit run` exits with status 3. Failed patients stay in
# the outputs either way; above 1% they could shift an endpoint by about as much as a
# typical between-arm difference in the smallest trials, so the run is not trusted silently.
MAX_FAILURE_FRACTION = 0.01


@dataclass(frozen=True)
class SolverOptions:
    """Tolerances of the stiff solver (relative, and absolute per unit of a state's scale)."""

    # rtol 1e-5 with Rodas4 keeps the final state within ~2e-6 (relative) of a tight-tolerance
    # solution on the benchmark's aHSCT and DMT arms (tests/test_model.py, benchmarks/throughput.py);
    # it takes 2.4 times fewer steps than Rodas3 at the same rtol through the transplant transients
    # (exponential drug decay tracked to rtol), where an order-3 method needs ~1-hour steps
    rtol: float = 1e-5
    atol_scale: float = 1e-9
    h_max: float = 30.0  # days; bounds the span of the cubic interpolation between output times
    max_steps: int = 200_000
    method: str = "rodas4"  # an id of remit.engine.solvers.SOLVERS: "rodas4" (default), "rodas3", "ros3p" (needs rtol ~5e-7)
    backend: str = "numba"  # "numba" (the compiled kernel) or "jax" (remit.engine.jax_backend)

    def safer(self) -> "SolverOptions":
        """The settings a failed patient is retried with: the L-stable Rodas3, rtol at most 1e-6,
        steps of at most 1 day (so that a fast transient cannot be stepped over), and ten times
        the step budget (at least 2,000,000), on the numba kernel whatever the first backend."""
        return SolverOptions(rtol=min(self.rtol, 1e-6), atol_scale=self.atol_scale, h_max=min(self.h_max, 1.0),
                             max_steps=max(10 * self.max_steps, 2_000_000), method="rodas3")


@dataclass(frozen=True)
class Trajectories:
    """States of every patient at the output times."""

    t: np.ndarray  # (T,) days
    y: np.ndarray  # (n, T, R): the recorded states (``state_names``) at ``t``
    status: np.ndarray  # (n,) solver status, 0 = ok (STATUS_TEXT); after the retry, if there was one
    steps: np.ndarray  # (n,) accepted + rejected steps (of the retry, for retried patients)
    state_names: tuple[str, ...]  # the recorded states: all of the model's unless ``simulate(record=...)`` chose some
    retried: np.ndarray | None = None  # (n,) bool: first attempt failed, integrated again with options.safer()
    first_status: np.ndarray | None = None  # (n,) status of the first attempt
    y_end: np.ndarray | None = None  # (n, S) every state of the model at t[-1] (NaN for a failed patient)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.y[:, :, self.state_names.index(name)]


def absolute_tolerance(model: ModelSpec, options: SolverOptions) -> np.ndarray:
    scale = np.array([max(1.0, abs(s.initial)) for s in model.states])
    return options.atol_scale * scale


def simulate(model: ModelSpec, y0: np.ndarray, params: np.ndarray, schedule: Schedule, t_out: np.ndarray,
             options: SolverOptions = SolverOptions(), t_start: np.ndarray | None = None,
             retry: bool = True, record: Sequence[str] | None = None) -> Trajectories:
    """Integrate ``n`` patients to ``t_out[-1]`` (days) under ``schedule``.

    ``y0`` is (n, S) initial states, ``params`` (n, P) per-patient parameters. Each patient
    starts at ``t_start[i]`` (default ``t_out[0]``); outputs before it repeat ``y0``.
    Events at exactly the start are applied before the first output. ``record`` names the
    states kept at every output time (default: all); every state at the last one is in
    ``y_end`` either way. Recording fewer states changes no number, only what is stored.

    Every patient's outputs are checked (:func:`check_states`): a solver failure (status 1-3),
    a non-finite output (status 3) or a nonnegative state below zero (status 4). With
    ``retry`` (default), such patients are integrated again with ``options.safer()``; those that
    still fail keep their status, and their outputs after the failure are NaN.
    """
    y0 = np.ascontiguousarray(y0, dtype=np.float64)
    params = np.ascontiguousarray(params, dtype=np.float64)
    t_out = np.ascontiguousarray(t_out, dtype=np.float64)
    n, s = y0.shape
    if s != len(model.states) or params.shape != (n, len(model.parameters)):
        raise ValueError(f"shape mismatch: y0 {y0.shape}, params {params.shape} for model {model.name}")
    if np.any(np.diff(t_out) <= 0):
        raise ValueError("output times must be strictly increasing")
    try:
        solver = SOLVERS.get(options.method)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    if options.backend not in BACKENDS:
        raise ValueError(f"unknown solver backend {options.backend!r} (known: {', '.join(BACKENDS)})")
    kernel = compile_model(model)
    names = tuple(model.state_names) if record is None else tuple(record)
    rec = np.array([model.state_index(name) for name in names], dtype=np.int64)
    out = np.empty((n, t_out.shape[0], rec.size))  # the kernel writes every output; NaN after a failure
    y_end = np.empty((n, s))
    status = np.zeros(n, dtype=np.int64)
    steps = np.zeros(n, dtype=np.int64)
    if t_start is None:
        t_start = np.full(n, t_out[0])
    t_start = np.ascontiguousarray(t_start, dtype=np.float64)
    keep = schedule.t <= t_out[-1]
    import numba  # loaded by compile_model already; kept out of this module's import

    # patients differ in cost (a transplant transient takes ~10x the steps of a quiet year), so
    # threads take small chunks of patients as they go rather than one fixed share each; every
    # patient is integrated on its own, so results do not depend on the chunking
    chunk = max(1, min(16, n // (8 * numba.get_num_threads())))
    previous = numba.set_parallel_chunksize(chunk)
    try:
        _run(model, kernel, solver, y0, params, t_start, schedule, keep, t_out, options, absolute_tolerance(model, options), out,
             rec, y_end, status, steps)
        status = check_states(model, out, status, rec, y_end)
        first = status.copy()
        bad = np.flatnonzero(status != OK) if retry else np.zeros(0, dtype=np.int64)
        if bad.size:
            safe = options.safer()
            o2 = np.empty((bad.size, t_out.shape[0], rec.size))
            e2 = np.empty((bad.size, s))
            st2 = np.zeros(bad.size, dtype=np.int64)
            k2 = np.zeros(bad.size, dtype=np.int64)
            numba.set_parallel_chunksize(1)
            _run(model, kernel, SOLVERS.get(safe.method), np.ascontiguousarray(y0[bad]), np.ascontiguousarray(params[bad]),
                 np.ascontiguousarray(t_start[bad]), schedule, keep, t_out, safe, absolute_tolerance(model, safe), o2, rec, e2, st2, k2)
            st2 = check_states(model, o2, st2, rec, e2)
            out[bad], y_end[bad], status[bad], steps[bad] = o2, e2, st2, k2
    finally:
        numba.set_parallel_chunksize(previous)
    retried = np.zeros(n, dtype=bool)
    retried[bad] = True
    return Trajectories(t_out, out, status, steps, names, retried, first, y_end)


def check_states(model: ModelSpec, out: np.ndarray, status: np.ndarray, record: np.ndarray | None = None,
                 y_end: np.ndarray | None = None) -> np.ndarray:
    """``status`` with patients whose solve reported success but whose outputs are not finite (3)
    or have a nonnegative state below ``-NEGATIVE_TOLERANCE * scale`` (4) marked as failed.

    ``out`` holds the states ``record`` (indices; default all); ``y_end`` (n, S), if given,
    every state at the last output time, checked too."""
    status = np.array(status, dtype=np.int64, copy=True)
    nonneg = np.array([st.nonnegative for st in model.states])
    floor = -NEGATIVE_TOLERANCE * np.array([max(1.0, abs(st.initial)) for st in model.states])
    rec = np.arange(len(model.states)) if record is None else np.asarray(record)
    check = compile_model(model).check_batch
    if out.size:
        check(np.ascontiguousarray(out, dtype=np.float64), status, np.ascontiguousarray(floor[rec]), np.ascontiguousarray(nonneg[rec]))
    if y_end is not None and y_end.size:
        check(np.ascontiguousarray(y_end, dtype=np.float64)[:, None, :], status, floor, nonneg)
    return status


def failure_summary(status: np.ndarray) -> dict[str, int]:
    """Count of patients per failure reason (STATUS_TEXT), failures only."""
    values, counts = np.unique(np.asarray(status, dtype=np.int64), return_counts=True)
    return {STATUS_TEXT.get(int(v), f"status {int(v)}"): int(c) for v, c in zip(values, counts) if v != OK}


def _run(model, kernel, solver: Solver, y0, params, t_start, schedule, keep, t_out, options, atol, out, record, y_end, status,
         steps) -> None:
    ev = tuple(np.ascontiguousarray(a[keep]) for a in (schedule.t, schedule.kind, schedule.idx, schedule.val, schedule.pidx))
    if options.backend == "jax":
        from remit.engine import jax_backend

        o, e, st, k = jax_backend.integrate(model, solver, y0, params, t_start, ev, t_out, options.rtol, atol, options.h_max,
                                            options.max_steps, record)
        out[...], y_end[...], status[...], steps[...] = o, e, st, k
        return
    kernel.integrate_batch(y0, params, t_start, *ev, t_out, options.rtol, atol, options.h_max, options.max_steps,
                           out, record, y_end, status, steps, kernel.SOLVER_IDS.index(options.method))
