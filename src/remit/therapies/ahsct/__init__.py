"""Autologous haematopoietic stem cell transplantation: mobilisation, graft (source, CD34+ dose,
optional CD34+ selection) and conditioning (one schema per regimen); its plan of events is
:mod:`remit.therapies.ahsct.plan`. It acts through the shared core's states (drugs, stem cells,
lymphocytes)."""

from remit.therapies.ahsct.plan import ahsct_plan
from remit.therapies.ahsct.schema import REGIMENS, AhsctArm
from remit.therapies.base import THERAPIES, ArmPlan, Therapy
from remit.therapies.options import CY_ATG, MOB_CY2, PBSC


class Ahsct(Therapy):
    id = "ahsct"
    label = "Autologous HSCT"
    arm_model = AhsctArm
    unions = {"conditioning": REGIMENS}
    units = {"cd34_per_kg": "CD34+ cells/kg", "graft_day": "days after mobilisation", "day": "days after the graft",
             "mg_per_m2": "mg/m2"}

    def plan(self, model, arm, drugs) -> ArmPlan:
        return ahsct_plan(model, arm)

    def example(self, drugs):
        return {"therapy": self.id, "mobilization": MOB_CY2, "graft": PBSC, "conditioning": CY_ATG}


THERAPIES.register(Ahsct.id, Ahsct())
