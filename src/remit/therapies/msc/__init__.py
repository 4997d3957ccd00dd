"""Mesenchymal stromal cells: source, dose (cells/kg), route, single or repeated doses, background
drugs continued unchanged. Its plan of events is :mod:`remit.therapies.msc.plan`; what it adds to
the model (the cells and their paracrine effect) is :mod:`remit.therapies.msc.model`."""

import dataclasses

from remit.therapies.base import THERAPIES, ArmPlan, Therapy
from remit.therapies.drugs import add_drugs
from remit.therapies.msc.model import msc_module
from remit.therapies.msc.plan import msc_plan
from remit.therapies.msc.schema import MscArm
from remit.therapies.schedule import ScheduleBuilder


class Msc(Therapy):
    id = "msc"
    label = "Mesenchymal stromal cells"
    arm_model = MscArm
    units = {"dose_cells_per_kg": "cells/kg", "doses": "doses"}

    def plan(self, model, arm, drugs) -> ArmPlan:
        plan = msc_plan(model, arm)
        if arm.background:
            b = ScheduleBuilder(model)
            add_drugs(b, drugs, list(arm.background), 0.0)
            plan = dataclasses.replace(plan, schedule=plan.schedule.merged(b.build()))
        return plan

    def module(self):
        return msc_module()

    def example(self, drugs):
        return {"therapy": self.id, "source": "bone_marrow", "dose_cells_per_kg": 2.0e6, "route": "intravenous"}


THERAPIES.register(Msc.id, Msc())
