"""Pieces shared by the design studies: enrol a cohort once, simulate any arm of any variant of
the spec on it (common random numbers), and shift population-level parameters of a cohort."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from remit.population import Cohort


class DesignError(ValueError):
    """A bad design request (unknown parameter, path or value); the CLI prints it and exits 2."""


# Per-patient parameters that draw_candidates derives from others (steady-state lymphocyte
# rates, body surface area): scaling them breaks the relation they were derived under.
DERIVED_PARAMETERS = ("thymic_output", "p_mem", "p_treg", "bsa_per_kg", "weight_inv")


def default_endpoint(disease):
    """The endpoint a design study analyses unless told otherwise: the disease's primary (Survival)
    endpoint, or its first Proportion endpoint when it declares none (rheumatoid arthritis: ACR20);
    None if it has neither."""
    if disease.primary:
        return disease.endpoint(disease.primary)
    return next((e for e in disease.endpoints if e.kind == "proportion"), None)


def enrol(spec, chunk_size: int = 1000, pool=None):
    """The enrolled cohort of ``spec`` (``patients_per_arm`` x arms patients) and the enrolment info."""
    from remit.trial import Trial

    return Trial(spec, "<design>").enrol(chunk_size, None, pool)


def arm_rows(spec, cohort_size: int, arm_index: int) -> np.ndarray:
    """Rows of the enrolled cohort randomised to arm ``arm_index`` (as :meth:`remit.trial.Trial.run`)."""
    return np.flatnonzero(np.arange(cohort_size) % len(spec.arms) == arm_index)


def simulate_arm(spec, arm_index: int, cohort: Cohort, rows: np.ndarray, chunk_size: int = 1000,
                 pool=None, solver=None):
    """Records (:class:`remit.endpoints.Records`: patients and outcomes) of arm ``arm_index`` of ``spec``
    simulated on ``cohort.take(rows)`` (patient ids = rows).

    Every patient's random streams are keyed by (seed, candidate), so the same rows under
    another arm or protocol see the same chance events: common random numbers.
    """
    from remit.engine.integrate import SolverOptions
    from remit.execute import LocalExecutor
    from remit.endpoints import Records
    from remit.trial import concat_outcomes, simulate_chunk

    solver = solver or SolverOptions()
    pool = pool or LocalExecutor()
    args = [(spec, arm_index, cohort.take(rows[s:s + chunk_size]), rows[s:s + chunk_size], solver)
            for s in range(0, len(rows), chunk_size)]
    parts: list = [None] * len(args)
    for i, chunk_records in pool.map_unordered(simulate_chunk, args):
        parts[i] = chunk_records
    if not parts:
        raise DesignError("no patients to simulate")
    return Records(pd.concat([p.patients for p in parts], ignore_index=True),
                   concat_outcomes([p.outcomes for p in parts]), spec.trial.follow_up_years, spec.control.name,
                   spec.visit_years)


# --------------------------------------------------------------------------
# population-level parameter shifts
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterShift:
    """How a population-level change of one model parameter reaches every patient.

    ``lognormal`` and ``fixed`` parameters are scaled (every patient's value times
    ``exp(x)``, ``x`` = log factor); ``logitnormal`` ones (fractions) are shifted by ``x``
    on the logit scale. Results are clipped to the parameter's [low, high]. The typical
    value moves from ``value`` to :meth:`typical`.
    """

    name: str
    index: int
    value: float
    low: float
    high: float
    prior: str
    cv: float

    @classmethod
    def of(cls, model, name: str) -> "ParameterShift":
        names = model.parameter_names
        if name not in names:
            import difflib

            near = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise DesignError(f"unknown model parameter {name!r} for {model.name}{hint}; list them with `remit model --disease ...`")
        if name in DERIVED_PARAMETERS:
            raise DesignError(f"parameter {name!r} is derived per patient from others (steady state or body size) "
                              "and cannot be varied on its own")
        p = model.parameter(name)
        if p.value == 0:
            raise DesignError(f"parameter {name!r} has typical value 0 (switched off in this model); it cannot be scaled")
        return cls(name, names.index(name), float(p.value), float(p.low), float(p.high), p.prior, float(p.cv))

    @property
    def logit(self) -> bool:
        return self.prior == "logitnormal"

    def bounds(self, source: str = "prior") -> tuple[float, float]:
        """Range of the shift ``x``: ``prior``: +-2 prior sd (log or logit scale) for varying
        parameters; ``spec`` (and fixed parameters): the model's [low, high] (a low of 0 is
        replaced by value/10)."""
        if source == "prior" and self.prior != "fixed":
            return -2.0 * self.cv, 2.0 * self.cv
        lo = self.low if self.low > 0 else self.value / 10.0
        hi = self.high
        if self.logit:
            clip = lambda v: min(max(v, 1e-6), 1 - 1e-6)  # noqa: E731
            return float(special.logit(clip(lo)) - special.logit(self.value)), float(special.logit(clip(hi)) - special.logit(self.value))
        return math.log(lo / self.value), math.log(hi / self.value)

    def typical(self, x: float) -> float:
        """Typical (population) value after a shift ``x``."""
        if self.logit:
            return float(special.expit(special.logit(self.value) + x))
        return float(self.value * math.exp(x))

    def shift_for(self, typical: float) -> float:
        """The shift ``x`` that moves the typical value to ``typical``."""
        if self.logit:
            return float(special.logit(typical) - special.logit(self.value))
        if typical <= 0:
            raise DesignError(f"parameter {self.name!r}: a population value must be > 0, got {typical:g}")
        return math.log(typical / self.value)

    def apply(self, P: np.ndarray, x: float) -> None:
        """Shift column ``index`` of the per-patient parameter matrix ``P`` in place."""
        col = P[:, self.index]
        if self.logit:
            v = special.expit(special.logit(np.clip(col, 1e-12, 1 - 1e-12)) + x)
        else:
            v = col * math.exp(x)
        P[:, self.index] = np.clip(v, self.low, self.high)


def shifted_cohort(cohort: Cohort, shifts: list[ParameterShift], x) -> Cohort:
    """A copy of ``cohort`` with every patient's parameters shifted by ``x`` (one entry per shift)."""
    P = cohort.params.copy()
    for s, xi in zip(shifts, x):
        s.apply(P, float(xi))
    return Cohort(cohort.candidate, cohort.covariates, P, cohort.y, cohort.carry, cohort.status)


def population_values(model, values: dict) -> tuple[list[ParameterShift], list[float]]:
    """Shifts that move each named parameter's typical value to ``values[name]`` (a posterior sample)."""
    shifts = [ParameterShift.of(model, k) for k in values]
    return shifts, [s.shift_for(float(values[s.name])) for s in shifts]


def summary_columns(disease, follow_up_years: float, benefit: list[str] | None = None) -> list[tuple[str, str, float, str]]:
    """(column, endpoint, timepoint, role) of the benefit/harm summary; ``benefit`` names catalog
    endpoints (Survival: free at the last whole year; Proportion: at the last whole year) to show
    instead of the default (the primary endpoint and the first Proportion endpoint)."""
    from remit.endpoints import whole_years

    K = whole_years(follow_up_years)
    cols = []
    for name in benefit or ():
        try:
            e = disease.endpoint(name)
        except KeyError:
            e = None
        kind = getattr(e, "kind", None)
        if kind == "survival":
            cols.append((f"{e.name}_free_y{K}", f"{e.name}_free", float(K), "benefit"))
        elif kind == "proportion":
            cols.append((f"{e.name}_y{K}", e.name, float(K), "benefit"))
        else:
            ok = ", ".join(x.name for x in disease.endpoints if x.kind in ("survival", "proportion"))
            raise DesignError(f"--benefit {name!r}: not a survival or proportion endpoint of {disease.name} (choose from: {ok})")
    if not benefit and disease.primary:
        cols.append((f"{disease.primary}_free_y{K}", f"{disease.primary}_free", float(K), "benefit"))
    props = [e for e in disease.endpoints if e.kind == "proportion"]
    if props and not benefit:
        cols.append((f"{props[0].name}_y{K}", props[0].name, float(K), "benefit"))
    if not cols:
        surv = [e for e in disease.endpoints if e.kind == "survival"]
        if surv:
            cols.append((f"{surv[0].name}_free_y{K}", f"{surv[0].name}_free", float(K), "benefit"))
    cols += [("trm_y1", "treatment_related_mortality", 1.0, "harm"),
             ("all_cause_mortality", "all_cause_mortality", float(follow_up_years), "harm"),
             ("severe_infections_per_patient", "severe_infections_per_patient", float(follow_up_years), "harm"),
             ("engraftment_day_median", "engraftment_day_median", float(follow_up_years), "harm")]
    return cols
