"""Conventional drugs of the trial's disease (its ``Disease.drugs``), effect only while given,
optionally stopped at a given year; the drugs' pharmacology is :mod:`remit.therapies.drugs`."""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

from remit.schema.types import Items, Range, fmt
from remit.therapies.base import THERAPIES, ArmBase, ArmPlan, DrugName, Therapy
from remit.therapies.drugs import add_drugs
from remit.therapies.schedule import ScheduleBuilder


class ConventionalArm(ArmBase):
    """Conventional drugs of the trial's disease: 1..3 distinct drugs, optionally stopped at
    ``stop_year`` (years)."""

    DRUG_FIELDS: ClassVar[tuple[str, ...]] = ("drugs",)

    therapy: Literal["conventional"] = "conventional"
    drugs: Annotated[tuple[DrugName, ...], Items(1, 3, "drugs", distinct=True)]
    stop_year: Annotated[float, Range(0, 30, lo_open=True)] | None = None

    def check(self, trial):
        if self.stop_year is not None and self.stop_year >= trial.follow_up_years:
            return ("stop_year", f"must be between 0 (exclusive) and {fmt(trial.follow_up_years)} (exclusive) "
                    "years, i.e. before follow-up ends (trial.follow_up_years)", self.stop_year)
        return None


class Conventional(Therapy):
    id = "conventional"
    label = "Conventional drugs"
    arm_model = ConventionalArm
    control = True
    units = {"stop_year": "years"}

    def plan(self, model, arm, drugs) -> ArmPlan:
        b = ScheduleBuilder(model)
        stop = arm.stop_year * 365.25 if arm.stop_year is not None else None
        add_drugs(b, drugs, list(arm.drugs), 0.0, stop)
        return ArmPlan(b.build(), math.nan, 0.0, "conventional: " + ", ".join(arm.drugs))

    def example(self, drugs):
        return {"therapy": self.id, "drugs": [next(iter(drugs))]}


THERAPIES.register(Conventional.id, Conventional())
