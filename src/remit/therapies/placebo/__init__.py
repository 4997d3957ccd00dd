"""Placebo on background therapy: the drugs of the trial's disease the patients were on, continued
unchanged."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from remit.therapies.base import THERAPIES, ArmBase, ArmPlan, Background, Therapy
from remit.therapies.drugs import add_drugs
from remit.therapies.schedule import ScheduleBuilder


class PlaceboArm(ArmBase):
    """Placebo on background therapy (0..3 drugs of the trial's disease, continued unchanged)."""

    DRUG_FIELDS: ClassVar[tuple[str, ...]] = ("background",)

    therapy: Literal["placebo"] = "placebo"
    background: Background = ()


class Placebo(Therapy):
    id = "placebo"
    label = "Placebo"
    arm_model = PlaceboArm
    control = True

    def plan(self, model, arm, drugs) -> ArmPlan:
        b = ScheduleBuilder(model)
        if arm.background:
            add_drugs(b, drugs, list(arm.background), 0.0)
        return ArmPlan(b.build(), math.nan, 0.0,
                       "placebo" + (" on " + ", ".join(arm.background) if arm.background else ""))

    def example(self, drugs):
        return {"therapy": self.id, "background": [next(iter(drugs))]}


THERAPIES.register(Placebo.id, Placebo())
