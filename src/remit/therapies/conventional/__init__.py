"""Conventional drugs of the trial's disease (its ``Disease.drugs``), effect only while given,
optionally stopped at a given year; the drugs' pharmacology is :mod:`remit.therapies.drugs`."""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

from remit.schema.types import Items, Range, fmt
from remit.therapies.base import THERAPIES, ArmBase, ArmPlan, DrugName, Therapy
from remit.therapies.drugs import add_drugs, pulses_given
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


PER_PROTOCOL_PULSES = 0.75  # a pulsed drug's per-protocol set: at least 3/4 of its pulses (e.g. 9 of 12)


def protocol_day(arm: ConventionalArm, drugs) -> tuple[float, str]:
    """When a patient of ``arm`` has received its protocol: for pulsed drugs (e.g. monthly IV
    cyclophosphamide) the day of the pulse that completes ``PER_PROTOCOL_PULSES`` of the pulses given
    before ``stop_year``; drugs taken continuously are started at randomisation (day 0)."""
    stop = arm.stop_year * 365.25 if arm.stop_year is not None else None
    day, said = 0.0, []
    for name in arm.drugs:
        pulses = sorted(pulses_given(drugs[name], 0.0, stop))
        if pulses:
            k = math.ceil(PER_PROTOCOL_PULSES * len(pulses))
            day = max(day, pulses[k - 1])
            said.append(f"at least {k} of {len(pulses)} {name} pulses")
    return day, "; ".join(said) or "randomised (drugs taken continuously)"


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
        day, protocol = protocol_day(arm, drugs)
        return ArmPlan(b.build(), math.nan, 0.0, "conventional: " + ", ".join(arm.drugs), day, protocol)

    def example(self, drugs):
        return {"therapy": self.id, "drugs": [next(iter(drugs))]}


THERAPIES.register(Conventional.id, Conventional())
