"""A toy disease defined entirely here, outside ``src/``: synovitis of one joint on the shared core.

It is what a contributor writes to add a disease: a model module (one state, two parameters),
a ``[population]`` schema, the history observed at enrolment, one score, one time-to-event
endpoint, a patient for ``remit predict``, and an evidence folder with one published record,
its mapping and its scenario. :func:`register` adds it to the disease registry; nothing in
``src/`` names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal

import numpy as np
import sympy as sp
from pydantic import Field

from remit.diseases import DISEASES
from remit.diseases.base import YEAR, BaselineVariable, Disease, History, Observation, VisitOutcomes, Score, Survival, TrialContext
from remit.diseases.patient import Match, Outcomes, PatientSpec, field_info
from remit.model.spec import Module, Parameter, State
from remit.random import uniforms
from remit.schedule import VisitGrid
from remit.schema.types import CHOICE, Distribution, PopulationBase, Range
from remit.therapies import options as opt
from remit.therapies.drugs import Drug

NAME = "toy_synovitis"
EVIDENCE = Path(__file__).parent / "toy_evidence"
C_SCORE = 40_000_000  # counter block of the score's measurement noise (above DISEASE_COUNTERS)
FLARE = 6.0  # score points: a flare


def module() -> Module:
    """Joint damage accumulates with active inflammation (``drev``) and never heals."""
    drev, scar = sp.Symbol("drev"), sp.Symbol("toy_scar")
    return Module(NAME, states=[State("toy_scar", "disease units", "irreversible joint damage")],
                  parameters=[Parameter("toy_scar_rate", 0.002, "disease units/day/lesion", 0.0, 0.01,
                                        "toy assumption for the contract test", "damage per unit inflammation"),
                              Parameter("toy_score_per_lesion", 3.0, "disease units/lesion", 0.5, 10.0,
                                        "toy assumption for the contract test", "score per unit active inflammation",
                                        "lognormal", 0.2)],
                  rates={"toy_scar": sp.Symbol("toy_scar_rate") * drev * (1 - scar / 100)})


class ScoreDistribution(Distribution):
    """Baseline toy score in score points, 0..30."""

    LIMITS: ClassVar[tuple[float, float]] = (0.0, 30.0)
    DEFAULTS: ClassVar[dict] = {"mean": 5.0, "sd": 3.0, "min": 0.0, "max": 30.0}
    UNIT: ClassVar[str] = "score points"


class ToyPopulation(PopulationBase):
    """Toy synovitis: the baseline score of the enrolled patients."""

    score: ScoreDistribution = Field(default_factory=ScoreDistribution)


class ToyPatient(PatientSpec):
    """A toy patient: their score."""

    DISEASE: ClassVar[str] = NAME
    OUTCOMES: ClassVar[Outcomes] = Outcomes("flare", None, "score", "flare")
    EXAMPLE: ClassVar[dict] = {"disease": NAME, "age": 40, "sex": "female", "disease_duration_years": 3, "score": 5}

    disease: Annotated[Literal["toy_synovitis"], CHOICE] = NAME
    score: Annotated[float, Range(0, 30)] = Field(**field_info("score points", "Toy score", 0.5))

    def options(self):
        return [opt.ahsct("ahsct-cy-atg", "aHSCT, Cy + ATG", opt.MOB_CY2, opt.PBSC, opt.CY_ATG),
                opt.conventional("toy-drug", "Toy drug", ["toy_drug"])]

    def population(self):
        return super().population()

    def history_matches(self):
        return [Match("score_baseline", self.score, 3.0, "toy score")]


def _score(drev: np.ndarray, params: dict, u: np.ndarray) -> np.ndarray:
    gain = np.asarray(params["toy_score_per_lesion"])[:, None]
    return np.clip(gain * drev + 0.5 * (u - 0.5), 0.0, 30.0)


class ToySynovitis(Disease):
    name = NAME
    label = "Toy synovitis"
    organ = "joint"
    population_model = ToyPopulation
    patient_model = ToyPatient
    evidence_prefix = "toy"
    evidence_dir = EVIDENCE
    units = {"score": "score points"}
    drugs = {"toy_drug": Drug("toy_drug", 0.5, 14.0, "toy assumption for the contract test")}
    endpoints = (Score("score", "Toy score", "points", True, "toy score from active inflammation"),
                 Survival("flare", "Free of flare", "flare_years", "flare_event", f"score above {FLARE:g} at a visit"))
    baseline = (BaselineVariable("age", "Age", "years", "age"),
                BaselineVariable("score_baseline", "Toy score at baseline", "points", "score"))
    selection = ("score_baseline", "score")
    primary = "flare"

    def module(self):
        return module()

    def observe_history(self, model, spec, t, traj, params, keys):
        drev = traj.y_end[:, model.state_index("drev")][:, None]
        return History({"score_baseline": _score(drev, params, uniforms(keys, C_SCORE, 1))[:, 0]})

    def _scores(self, ctx: TrialContext, grid: VisitGrid) -> np.ndarray:
        """The score (n, V) at the visits of ``grid``: baseline the screening value, NaN after death."""
        u = uniforms(ctx.keys, C_SCORE + grid.ids.astype(np.uint64))
        score = np.where(ctx.alive_at(grid.days), _score(ctx.at("drev", grid), ctx.params, u), np.nan)
        score[:, grid.days == 0] = ctx.covariates["score_baseline"][:, None]
        return score

    def observe(self, ctx: TrialContext) -> Observation:
        out = VisitOutcomes()
        v = ctx.visit_days
        score = self._scores(ctx, ctx.assessments)  # quarterly: where flares are ascertained
        rep = ctx.report  # the trial's report visits
        at_visits = self._scores(ctx, rep)
        for j, day in enumerate(rep.days):
            out.at("score", day / YEAR, at_visits[:, j])
        rec = {"score_baseline": ctx.covariates["score_baseline"]}
        above = (score[:, 1:] > FLARE)
        first = np.where(above.any(axis=1), np.argmax(above, axis=1) + 1, -1)
        end = np.minimum(np.where(ctx.died, ctx.death_days, np.inf), ctx.planned_years * YEAR) / YEAR
        rec["flare_event"] = first > 0
        rec["flare_years"] = np.where(first > 0, v[np.maximum(first, 0)] / YEAR, end)
        return Observation(rec, {"score": score}, out)


def register() -> ToySynovitis:
    """Register the toy disease (idempotent); its evidence lies beside this file."""
    if NAME not in DISEASES:
        DISEASES.register(NAME, ToySynovitis())
    return DISEASES.get(NAME)


def unregister() -> None:
    if NAME in DISEASES:
        DISEASES.unregister(NAME)
