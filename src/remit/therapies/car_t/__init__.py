"""CAR-T cells: target (CD19), dose (CAR+ cells/kg), lymphodepletion (fludarabine and
cyclophosphamide), product (autologous), infusion day. Its plan of events is
:mod:`remit.therapies.car_t.plan`, what it adds to the model (expansion, contraction, killing of
CD19+ cells) :mod:`remit.therapies.car_t.model`, and what a trial observes of it (CRS, ICANS,
the end of B-cell aplasia) :mod:`remit.therapies.car_t.observe`."""

from remit.therapies.base import THERAPIES, ArmPlan, Therapy
from remit.therapies.car_t.model import car_t_module
from remit.therapies.car_t.observe import car_t_observations
from remit.therapies.car_t.plan import car_t_plan
from remit.therapies.car_t.schema import CarTArm


class CarT(Therapy):
    id = "car_t"
    label = "CAR-T cells"
    arm_model = CarTArm
    units = {"dose_cells_per_kg": "cells/kg", "infusion_day": "days after randomisation",
             "fludarabine_mg_per_m2": "mg/m2", "cyclophosphamide_mg_per_m2": "mg/m2"}
    trial_states = ("car_eff", "car_mem", "b_cells", "vaccine_ab")
    evidence_dir = "remit.therapies.car_t.evidence"  # the published CAR-T series in autoimmune disease

    def plan(self, model, arm, drugs) -> ArmPlan:
        return car_t_plan(model, arm)

    def module(self):
        return car_t_module()

    def observe(self, ctx):
        arm = ctx.arm
        return car_t_observations(ctx, float(arm.infusion_day) if arm.therapy == self.id else None)

    def example(self, drugs):
        return {"therapy": self.id, "target": "cd19", "dose_cells_per_kg": 1.0e6}


THERAPIES.register(CarT.id, CarT())
