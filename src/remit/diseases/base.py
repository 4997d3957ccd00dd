"""The contract between the trial pipeline and a disease.

The pipeline (population -> engine -> observation -> endpoints -> report) is the same for
every disease; what differs is declared by a :class:`Disease`:

- the model module added to the shared immune core (``module``),
- the ``[population]`` schema of a scenario and the conventional drugs allowed in it,
- how a candidate's parameters and onset state depend on covariates (``prepare``),
- what is observed before enrolment, and who is eligible (``observe_history``, ``eligible``),
- the clinical scores and events observed during the trial (``observe``),
- the endpoints computed from them (``endpoints``, instances of the kinds of :mod:`remit.endpoints`),
- the patient ``remit predict`` takes (``patient_model``, :mod:`remit.diseases.patient`),
- where its evidence lies (``evidence_prefix`` of its record ids, optionally ``evidence_dir``),
- a small example trial (``example``) that the conformance tests run.

A disease registers itself in :data:`DISEASES` (one package per disease, ``remit/diseases/<id>/``).

Scores and events are drawn with the patient's own counter-based streams
(:mod:`remit.random`). Counter blocks below ``DISEASE_COUNTERS`` belong to the shared
pipeline and to multiple sclerosis; every other disease draws from counters at or above it,
and every block stays below ``remit.random.POSITIONAL_LIMIT`` (the counters above it are the
model parameters'; the layout is in :mod:`remit.random`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

import numpy as np

from remit.endpoints import Proportion, Rate, Score, Slope, Survival  # noqa: F401 (the kinds a disease declares)
from remit.endpoints.base import EndpointKind
from remit.registry import Registry
from remit.schedule import VisitGrid

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from remit.engine.integrate import Trajectories
    from remit.model.spec import Module, ModelSpec
    from remit.therapies.drugs import Drug

DISEASE_COUNTERS = 20_000_000
YEAR = 365.25
VISITS_PER_YEAR = 4
MIN_ONSET_AGE = 12.0  # years: the model starts disease at this age or later


def first_passage(t: np.ndarray, hazard: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Event times (days, (n,)) of hazards ``hazard`` (per day, (n, T) on the days ``t``): the first day at
    which the trapezoid-integrated hazard reaches the patient's Exp(1) threshold -ln(u); inf if never
    within ``t``. The event falls on a day of ``t``, so its resolution is the output grid's."""
    cum = np.concatenate([np.zeros((hazard.shape[0], 1)),
                          np.cumsum(0.5 * (hazard[:, 1:] + hazard[:, :-1]) * np.diff(t), axis=1)], axis=1)
    hit = cum >= -np.log(u)[:, None]
    return np.where(hit.any(axis=1), t[np.argmax(hit, axis=1)], np.inf)


def meets(criterion: str, present: np.ndarray) -> np.ndarray:
    """Who meets an inclusion criterion (:data:`remit.schema.types.Criterion`) on a baseline finding
    ``present`` (bool per patient): those with it (``required``), without it (``excluded``) or all (``any``)."""
    if criterion == "required":
        return present
    if criterion == "excluded":
        return ~present
    return np.ones_like(present, dtype=bool)


@dataclass(frozen=True)
class BaselineVariable:
    """A baseline characteristic: patient column, label, unit and the population field requested for it."""

    column: str
    label: str
    unit: str
    field: str | None = None  # name of a Distribution in the [population] table


# --------------------------------------------------------------------------
# what the pipeline hands a disease
# --------------------------------------------------------------------------


@dataclass
class History:
    """What a disease observed in the burn-in: baseline covariates and anything it needs later."""

    covariates: dict[str, np.ndarray]
    carry: dict[str, np.ndarray] = field(default_factory=dict)  # first axis = patients


@dataclass
class TrialContext:
    """One chunk of one arm after integration, with deaths already drawn.

    Times are days from randomisation; ``visit_days`` are the disease's quarterly assessments
    within follow-up (where it ascertains its events) and ``visit_index`` their positions in
    ``t``; ``reports`` are the trial's report visits (baseline first, :mod:`remit.schedule`),
    at which the disease records its outcomes.
    """

    model: "ModelSpec"
    spec: object  # TrialSpec
    arm: object
    plan: object  # ArmPlan
    covariates: dict[str, np.ndarray]
    carry: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    keys: np.ndarray  # (n, 2) TRIAL stream keys
    t: np.ndarray  # (T,) days
    y: np.ndarray  # (n, T, S)
    visit_days: np.ndarray
    visit_index: np.ndarray
    died: np.ndarray
    death_days: np.ndarray  # NaN if alive at the end
    follow_up_years: np.ndarray  # per patient: to death or end of trial
    planned_years: float
    reports: VisitGrid | None = None  # None: baseline and every whole year (see `report`)
    states: tuple[str, ...] | None = None  # the states along y's last axis (None: all the model's, in order)

    @property
    def report(self) -> VisitGrid:
        """The report visits: ``reports``, else baseline and every whole year of follow-up."""
        if self.reports is None:
            self.reports = VisitGrid.on(self.t, np.arange(self.whole_years + 1) * YEAR)
        return self.reports

    @property
    def assessments(self) -> VisitGrid:
        """The quarterly assessments (``visit_days``) as a :class:`~remit.schedule.VisitGrid`."""
        return VisitGrid.on(self.t, self.visit_days)

    def at(self, name: str, grid: VisitGrid) -> np.ndarray:
        """State ``name`` at the visits of ``grid`` (n, V), interpolated between output times."""
        return grid.take(self.state(name))

    def state(self, name: str) -> np.ndarray:
        """State ``name`` at every output time (n, T)."""
        if self.states is None:
            return self.y[:, :, self.model.state_index(name)]
        try:
            return self.y[:, :, self.states.index(name)]
        except ValueError:
            raise KeyError(f"state {name!r} is not recorded during the trial: add it to the disease's trial_states "
                           f"(recorded: {', '.join(self.states)})") from None

    def at_visits(self, name: str) -> np.ndarray:
        return self.state(name)[:, self.visit_index]

    def alive_at(self, days) -> np.ndarray:
        """(n,) for a scalar, (n, V) for an array of days."""
        days = np.asarray(days, dtype=float)
        dd = np.where(self.died, self.death_days, np.inf)
        return dd[:, None] > days[None, :] if days.ndim else dd > days

    @property
    def n(self) -> int:
        return self.y.shape[0]

    @property
    def whole_years(self) -> int:
        return int(np.floor(self.planned_years + 1e-9))

    def year_index(self, k: float) -> int:
        return int(np.searchsorted(self.t, k * YEAR - 1e-6))


class VisitOutcomes:
    """The per-visit outcomes a disease observes in one chunk, recorded one visit at a time and
    handed to the pipeline as the long outcomes table (``patient_id``, ``endpoint``, ``t_years``,
    ``value``) that the Score and Proportion endpoints read."""

    def __init__(self) -> None:
        self._names: list[str] = []
        self._times: list[float] = []
        self._values: list[np.ndarray] = []

    def at(self, name: str, t_years: float, values) -> None:
        """Record outcome ``name`` at visit time ``t_years`` (years from randomisation; 0 is baseline),
        one value per patient (NaN where not assessed, e.g. after death)."""
        self._names.append(str(name))
        self._times.append(float(t_years))
        self._values.append(np.asarray(values, dtype=float))

    def table(self, patient_ids: np.ndarray):
        """The long table, patient by patient, each patient's rows in recording order."""
        import pandas as pd

        from remit.endpoints import empty_outcomes

        if not self._names:
            return empty_outcomes()
        n, c = len(patient_ids), len(self._names)
        categories = list(dict.fromkeys(self._names))
        codes = np.array([categories.index(x) for x in self._names], dtype=np.int8 if len(categories) < 128 else np.int16)
        values = np.column_stack(self._values) if n else np.zeros((0, c))
        return pd.DataFrame({
            "patient_id": np.repeat(np.asarray(patient_ids, dtype=np.int64), c),
            "endpoint": pd.Categorical.from_codes(np.tile(codes, n), categories=categories),
            "t_years": np.tile(np.array(self._times), n),
            "value": values.ravel(),
        })


@dataclass
class Observation:
    """Per-patient columns, per-visit columns (shape (n, V)) and per-visit outcomes a disease adds."""

    patients: dict[str, np.ndarray]
    visits: dict[str, np.ndarray]
    outcomes: VisitOutcomes = field(default_factory=VisitOutcomes)


# --------------------------------------------------------------------------
# the Disease
# --------------------------------------------------------------------------


class Disease:
    """Base class of the disease plug-ins; subclasses set the attributes and override the hooks."""

    name: str = ""
    label: str = ""
    organ: str = ""
    population_model: type = object  # pydantic model of the [population] table
    units: Mapping[str, str] = {}  # units of the population fields by name (for error messages)
    patient_model: type | None = None  # remit predict's patient (a remit.diseases.patient.PatientSpec)
    evidence_prefix: str = ""  # evidence ids of the disease's trials start with it (e.g. "ms-mist-2019")
    # a folder of the disease's own evidence (trials.yaml, mappings/, scenarios/) beside remit's own
    # (remit/data/evidence); a package name or a path; None: the disease's evidence is remit's own
    evidence_dir: "str | Traversable | None" = None
    drugs: Mapping[str, "Drug"] = {}
    endpoints: tuple[EndpointKind, ...] = ()  # instances of the registered endpoint kinds
    baseline: tuple[BaselineVariable, ...] = ()
    selection: str | None = None  # covariate (and population Distribution of the same name) matched by prevalence selection
    primary: str = ""  # the Survival endpoint shown first (KM plot, headline)
    # sub-annual report visits of the default schedule (remit.schedule; whole years and the end of
    # follow-up are always in it): the 6-month visit most trials of every disease report
    visits: tuple[str, ...] = ("6m",)
    report_ids: Mapping[str, str] = {}  # endpoint name -> report section id, where not <kind section>_<name>
    # population-level quantities `remit calibrate` fits (remit.calibration.problem.FitParameter)
    calibrated: tuple = ()
    references: tuple[str, ...] = ()

    # -- model -------------------------------------------------------------------------
    def module(self) -> "Module":
        raise NotImplementedError

    # -- population --------------------------------------------------------------------
    def prior_therapy(self, population) -> tuple[str, ...]:
        """Drugs (keys of ``drugs``) patients were on before enrolment."""
        return tuple(getattr(population, "prior_therapy", ()) or ())

    def prepare(self, model: "ModelSpec", population, covariates: dict, P: np.ndarray, y0: np.ndarray,
                u: np.ndarray) -> None:
        """Adjust per-patient parameters ``P`` and onset states ``y0`` in place (``u``: 10 uniforms per patient)."""

    # states the disease's observe() reads during the trial (TrialContext.state / at); the trial keeps
    # only these (and those every disease's observation reads, remit.trial.SHARED_STATES) at its output
    # times, every state at the end. None: every state
    trial_states: tuple[str, ...] | None = None

    # states whose monthly path before enrolment observe_history reads (the burn-in keeps only
    # these at every month, and every state at enrolment)
    history_states: tuple[str, ...] = ()

    def observe_history(self, model: "ModelSpec", spec, t: np.ndarray, traj: "Trajectories", params: dict,
                        keys: np.ndarray) -> History:
        """Baseline covariates from the burn-in (``t``: monthly days before enrolment, ending at 0):
        ``traj[name]`` (n, T) for the ``history_states``, ``traj.y_end`` (n, S) every state at enrolment."""
        raise NotImplementedError

    def eligible(self, covariates: dict, population) -> np.ndarray:
        """Inclusion criteria other than the prevalence-selected score (already applied)."""
        return np.ones(len(next(iter(covariates.values()))), dtype=bool)

    def selection_edges(self, lo: float, hi: float) -> np.ndarray:
        """Bin edges used to match the selected score's distribution (continuous scores: 20 bins)."""
        return np.linspace(lo, hi, 21)

    def frailty(self, covariates: dict) -> np.ndarray:
        """Relative risk of dying of a treatment complication (1 = reference patient)."""
        age = covariates["age"]
        return np.exp(0.05 * (age - 35.0))

    def infection_frailty(self, covariates: dict) -> np.ndarray:
        """Relative case fatality of a severe infection (default: the same as :meth:`frailty`)."""
        return self.frailty(covariates)

    def disease_death_days(self, ctx: TrialContext) -> np.ndarray:
        """Days of deaths caused by the disease itself (inf: none within follow-up)."""
        return np.full(ctx.n, np.inf)

    # -- trial -------------------------------------------------------------------------
    def observe(self, ctx: TrialContext) -> Observation:
        raise NotImplementedError

    # -- example -------------------------------------------------------------------------
    def example(self) -> dict:
        """A small two-arm trial of this disease (aHSCT vs its first conventional drug, the default
        population) as a scenario table; the conformance tests run it for every disease."""
        from remit.therapies import THERAPIES

        arms = [{"name": "aHSCT", **THERAPIES.get("ahsct").example(self.drugs)},
                {"name": "Control", **THERAPIES.get("conventional").example(self.drugs)}]
        return {"trial": {"name": f"{self.label} example", "disease": self.name, "seed": 1, "follow_up_years": 2.0,
                          "patients_per_arm": 20}, "arms": arms}

    # -- derived -----------------------------------------------------------------------
    @property
    def scores(self) -> tuple[Score, ...]:
        return tuple(e for e in self.endpoints if e.kind == "score")

    def endpoint(self, name: str) -> EndpointKind:
        for e in self.endpoints:
            if e.name == name:
                return e
        raise KeyError(name)


DISEASES: Registry[Disease] = Registry("disease")
