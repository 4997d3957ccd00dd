"""Conventional drugs of the trial's disease (its ``Disease.drugs``), effect only while given,
optionally stopped at a given year; the drugs' pharmacology is :mod:`remit.therapies.drugs`."""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

from remit.schema.types import Items, Model, Range, fmt
from remit.therapies.base import THERAPIES, ArmBase, ArmPlan, DrugName, Therapy
from remit.therapies.drugs import add_drugs, pulsed, pulses_given
from remit.therapies.schedule import ScheduleBuilder


class Pulses(Model):
    """The arm's own schedule of a pulsed drug (cyclophosphamide): ``count`` pulses of ``mg_per_m2`` every
    ``every_days``, the first of ``first_mg_per_m2`` if given (e.g. 500 mg/m2, then 750 mg/m2 monthly);
    doses follow each patient's body surface. It replaces the drug table's schedule for this arm."""

    drug: DrugName
    # IV cyclophosphamide pulses: 0.5-1 g/m2 (NIH protocol, Gourley et al. 1996 Ann Intern Med 125:549)
    mg_per_m2: Annotated[float, Range(0, 1500)]
    count: Annotated[int, Range(1, 60)]
    every_days: Annotated[float, Range(1, 365)]
    first_mg_per_m2: Annotated[float, Range(0, 1500)] | None = None


class ConventionalArm(ArmBase):
    """Conventional drugs of the trial's disease: 1..3 distinct drugs, optionally stopped at
    ``stop_year`` (years); a pulsed drug may get the arm's own schedule (``pulses``)."""

    DRUG_FIELDS: ClassVar[tuple[str, ...]] = ("drugs",)

    therapy: Literal["conventional"] = "conventional"
    drugs: Annotated[tuple[DrugName, ...], Items(1, 3, "drugs", distinct=True)]
    stop_year: Annotated[float, Range(0, 30, lo_open=True)] | None = None
    pulses: Pulses | None = None

    def check(self, trial):
        if self.stop_year is not None and self.stop_year >= trial.follow_up_years:
            return ("stop_year", f"must be between 0 (exclusive) and {fmt(trial.follow_up_years)} (exclusive) "
                    "years, i.e. before follow-up ends (trial.follow_up_years)", self.stop_year)
        return None

    def check_drugs(self, drugs):
        if self.pulses is None:
            return None
        own = [d for d in self.drugs if drugs[d].pulse_agent is not None]
        if self.pulses.drug not in own:
            allowed = ", ".join(own) or "none: no drug of this arm is given in pulses of its own agent"
            return (("pulses", "drug"), f"must be one of this arm's pulsed drugs ({allowed})", self.pulses.drug)
        return None

    def drug_table(self, drugs):
        """The disease's drug table with this arm's own pulse schedule, if any."""
        if self.pulses is None:
            return drugs
        p = self.pulses
        return {**drugs, p.drug: pulsed(drugs[p.drug], p.mg_per_m2, p.count, p.every_days, p.first_mg_per_m2)}


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
    units = {"stop_year": "years", "mg_per_m2": "mg/m2", "count": "pulses"}

    def plan(self, model, arm, drugs) -> ArmPlan:
        drugs = arm.drug_table(drugs)
        b = ScheduleBuilder(model)
        stop = arm.stop_year * 365.25 if arm.stop_year is not None else None
        add_drugs(b, drugs, list(arm.drugs), 0.0, stop)
        day, protocol = protocol_day(arm, drugs)
        return ArmPlan(b.build(), math.nan, 0.0, "conventional: " + ", ".join(arm.drugs), day, protocol)

    def example(self, drugs):
        return {"therapy": self.id, "drugs": [next(iter(drugs))]}


THERAPIES.register(Conventional.id, Conventional())
