"""Stem cell mobilisation and collection only, the transplant deferred beyond the comparison (the
control arm of ASTIC, Hawkey et al. 2015 JAMA 314:2524)."""

from __future__ import annotations

import math
from typing import Literal

from remit.therapies.ahsct.plan import CY_TOXIC_DEATH_PER_200_MG_KG, mobilize
from remit.therapies.ahsct.schema import Mobilization
from remit.therapies.base import THERAPIES, ArmBase, ArmPlan, Therapy
from remit.therapies.drugs import stop_all
from remit.therapies.options import MOB_CY2
from remit.therapies.schedule import ScheduleBuilder


class MobilizationArm(ArmBase):
    """Stem cell mobilisation and collection only, transplant deferred beyond the
    comparison (the control arm of ASTIC, Hawkey et al. 2015 JAMA 314:2524)."""

    therapy: Literal["mobilization_only"] = "mobilization_only"
    mobilization: Mobilization


class MobilizationOnly(Therapy):
    id = "mobilization_only"
    label = "Mobilisation only"
    arm_model = MobilizationArm
    control = True

    def plan(self, model, arm, drugs) -> ArmPlan:
        b = ScheduleBuilder(model)
        stop_all(b, 0.0)
        mobilize(b, arm.mobilization)
        tox = CY_TOXIC_DEATH_PER_200_MG_KG * arm.mobilization.cyclophosphamide_g_per_m2 * 1000.0 * (1.8 / 70.0) / 200.0
        return ArmPlan(b.build(), math.nan, tox, "mobilisation only (transplant deferred)", 0.0, "randomised")

    def example(self, drugs):
        return {"therapy": self.id, "mobilization": MOB_CY2}


THERAPIES.register(MobilizationOnly.id, MobilizationOnly())
