"""Batched integration of the compiled model over patients.

The hot path is numba code (:mod:`remit.engine._kernel`) running in parallel over
patients; this module only prepares arrays and checks them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from remit.model.codegen import compile_model
from remit.model.spec import ModelSpec
from remit.therapy.schedule import Schedule

METHODS = {"ros3p": 0, "rodas3": 1}  # must match METHOD_* in remit.engine._kernel
STATUS_TEXT = {0: "ok", 1: "maximum number of steps reached", 2: "step size underflow", 3: "non-finite state"}


@dataclass(frozen=True)
class SolverOptions:
    """Tolerances of the stiff solver (relative, and absolute per unit of a state's scale)."""

    # rtol 1e-5 with Rodas3 keeps the final state within ~2e-5 (relative) of a tight-tolerance
    # solution on the benchmark's aHSCT and DMT arms (tests/test_model.py, benchmarks/throughput.py)
    rtol: float = 1e-5
    atol_scale: float = 1e-9
    h_max: float = 30.0  # days; bounds the span of the cubic interpolation between output times
    max_steps: int = 200_000
    method: str = "rodas3"  # "rodas3" (default) or "ros3p" (the previous method, needs rtol ~5e-7)


@dataclass(frozen=True)
class Trajectories:
    """States of every patient at the output times."""

    t: np.ndarray  # (T,) days
    y: np.ndarray  # (n, T, S)
    status: np.ndarray  # (n,) solver status, 0 = ok
    steps: np.ndarray  # (n,) accepted + rejected steps
    state_names: tuple[str, ...]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.y[:, :, self.state_names.index(name)]


def absolute_tolerance(model: ModelSpec, options: SolverOptions) -> np.ndarray:
    scale = np.array([max(1.0, abs(s.initial)) for s in model.states])
    return options.atol_scale * scale


def simulate(model: ModelSpec, y0: np.ndarray, params: np.ndarray, schedule: Schedule, t_out: np.ndarray,
             options: SolverOptions = SolverOptions(), t_start: np.ndarray | None = None) -> Trajectories:
    """Integrate ``n`` patients to ``t_out[-1]`` (days) under ``schedule``.

    ``y0`` is (n, S) initial states, ``params`` (n, P) per-patient parameters. Each patient
    starts at ``t_start[i]`` (default ``t_out[0]``); outputs before it repeat ``y0``.
    Events at exactly the start are applied before the first output.
    """
    y0 = np.ascontiguousarray(y0, dtype=np.float64)
    params = np.ascontiguousarray(params, dtype=np.float64)
    t_out = np.ascontiguousarray(t_out, dtype=np.float64)
    n, s = y0.shape
    if s != len(model.states) or params.shape != (n, len(model.parameters)):
        raise ValueError(f"shape mismatch: y0 {y0.shape}, params {params.shape} for model {model.name}")
    if np.any(np.diff(t_out) <= 0):
        raise ValueError("output times must be strictly increasing")
    if options.method not in METHODS:
        raise ValueError(f"unknown solver method {options.method!r} (known: {', '.join(METHODS)})")
    kernel = compile_model(model)
    out = np.empty((n, t_out.shape[0], s))
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
        _run(kernel, y0, params, t_start, schedule, keep, t_out, options, absolute_tolerance(model, options), out, status, steps)
    finally:
        numba.set_parallel_chunksize(previous)
    return Trajectories(t_out, out, status, steps, tuple(model.state_names))


def _run(kernel, y0, params, t_start, schedule, keep, t_out, options, atol, out, status, steps) -> None:
    kernel.integrate_batch(
        y0, params, t_start,
        np.ascontiguousarray(schedule.t[keep]), np.ascontiguousarray(schedule.kind[keep]),
        np.ascontiguousarray(schedule.idx[keep]), np.ascontiguousarray(schedule.val[keep]),
        np.ascontiguousarray(schedule.pidx[keep]),
        t_out, options.rtol, atol, options.h_max, options.max_steps,
        out, status, steps, METHODS[options.method],
    )
