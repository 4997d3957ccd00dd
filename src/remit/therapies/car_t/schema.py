"""The ``[[arms]]`` table of a CAR-T arm: target, dose, lymphodepletion, product, infusion day."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, get_args

from pydantic import Field

from remit.schema.types import CHOICE, Model, Range, fmt
from remit.therapies.base import ArmBase

__all__ = ["CAR_TARGETS", "CarTArm", "Lymphodepletion"]

# CD19 first; BCMA (plasma cells) and dual CD19/BCMA products are the next targets the schema will take
CarTarget = Literal["cd19"]
CAR_TARGETS: tuple[str, ...] = get_args(CarTarget)
CarProduct = Literal["autologous"]


class Lymphodepletion(Model):
    """Lymphodepleting chemotherapy before the infusion, total doses in mg/m2 (both 0: none).

    Defaults: the regimen of the Erlangen autoimmune series, fludarabine 25 mg/m2 on each of days -5 to -3
    and cyclophosphamide 1000 mg/m2 on day -3 (stated in the group's SSc series, ACR Convergence 2023; the lupus
    series gave fludarabine and cyclophosphamide: Mackensen et al. 2022 Nat Med 28:2124)."""

    # fludarabine 25-30 mg/m2/day x 3 is the usual CAR-T lymphodepletion; up to 150 mg/m2 (5 days of 30) accepted
    fludarabine_mg_per_m2: Annotated[float, Range(0, 150)] = 75.0
    # cyclophosphamide 250-500 mg/m2/day x 3 (axi-cel) or 1000 mg/m2 once; up to 3000 mg/m2 accepted
    cyclophosphamide_mg_per_m2: Annotated[float, Range(0, 3000)] = 1000.0

    @property
    def given(self) -> bool:
        return self.fludarabine_mg_per_m2 > 0 or self.cyclophosphamide_mg_per_m2 > 0


class CarTArm(ArmBase):
    """CAR-T cells: target antigen (``cd19``), dose of CAR+ cells/kg (1e4..1e8), lymphodepletion,
    product (``autologous``), and the infusion day (days after randomisation, 5..120: apheresis and
    manufacture come first)."""

    DRUG_FIELDS: ClassVar[tuple[str, ...]] = ()

    therapy: Literal["car_t"] = "car_t"
    target: Annotated[CarTarget, CHOICE] = "cd19"
    dose_cells_per_kg: Annotated[float, Range(1e4, 1e8)]
    lymphodepletion: Lymphodepletion = Field(default_factory=Lymphodepletion)
    product: Annotated[CarProduct, CHOICE] = "autologous"
    # vein-to-vein time: apheresis, manufacture and release, about 3-5 weeks (assumption for the default)
    infusion_day: Annotated[float, Range(5, 120)] = 28.0

    def check(self, trial):
        if self.infusion_day >= trial.follow_up_years * 365.25:
            return ("infusion_day", f"must be before follow-up ends ({fmt(trial.follow_up_years * 365.25)} days)",
                    self.infusion_day)
        return None
