"""Treatment options a clinician compares for one patient (``remit predict``): each an arm of the
scenario vocabulary without its name, built by :func:`ahsct`, :func:`msc`, :func:`car_t` or :func:`conventional`
from the protocol tables below. A disease lists its patient's default options
(:meth:`remit.diseases.patient.PatientSpec.options`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from remit.therapies.ahsct.schema import STANDARD_CONDITIONING

__all__ = ["Option", "ahsct", "car_t", "cd19_car_t", "conventional", "msc"]

@dataclass(frozen=True)
class Option:
    """A treatment option: an arm of the scenario vocabulary (``arm`` without ``name``)."""

    id: str
    label: str
    kind: Literal["ahsct", "msc", "car_t", "conventional"]
    arm: Mapping[str, Any]
    note: str = ""

    def arm_dict(self) -> dict:
        return {"name": self.id, **self.arm}


# protocol tables (mobilisation, graft, conditioning) of the default options
MOB_CY2 = {"cyclophosphamide_g_per_m2": 2.0, "g_csf": True}
MOB_CY4 = {"cyclophosphamide_g_per_m2": 4.0, "g_csf": True}
PBSC = {"source": "peripheral_blood", "cd34_per_kg": 5.0e6, "cd34_selection": False}
PBSC_SEL = {"source": "peripheral_blood", "cd34_per_kg": 4.0e6, "cd34_selection": True}
# conditioning: the standard protocols of the scenario schema (one table, with its sources), where an
# option differs from one, the dose that differs
CY_ATG = {"regimen": "cy_atg", **STANDARD_CONDITIONING["cy_atg"]}
CY_ATG_75 = {**CY_ATG, "atg_mg_per_kg": 7.5}
BEAM_ATG = {"regimen": "beam_atg", **STANDARD_CONDITIONING["beam_atg"]}
TBI_CY_ATG = {"regimen": "tbi_cy_atg", **STANDARD_CONDITIONING["tbi_cy_atg"], "tbi_gy": 8.0}  # reduced-dose TBI


def ahsct(id_: str, label: str, mob: Mapping, graft: Mapping, cond: Mapping, note: str = "") -> Option:
    """An aHSCT option: mobilisation, graft and conditioning tables of the scenario vocabulary."""
    return Option(id_, label, "ahsct", {"therapy": "ahsct", "mobilization": mob, "graft": graft, "conditioning": cond}, note)


def msc(id_: str, label: str, source: str, dose: float, route: str, doses: int, interval: float | None,
        background, note: str = "") -> Option:
    """An MSC option: source, dose (cells/kg), route, number of doses and days between them, background drugs."""
    sched = {"doses": doses} if doses == 1 else {"doses": doses, "interval_days": interval}
    return Option(id_, label, "msc", {"therapy": "msc", "source": source, "dose_cells_per_kg": dose, "route": route,
                                      "schedule": sched, "background": tuple(background)[:3]}, note)


# the lymphodepletion of the published autoimmune CAR-T series: fludarabine 25 mg/m2 on days -5 to -3,
# cyclophosphamide 1000 mg/m2 on day -3 (the Erlangen regimen, stated in its SSc series, ACR Convergence 2023)
FLU_CY = {"fludarabine_mg_per_m2": 75.0, "cyclophosphamide_mg_per_m2": 1000.0}


def car_t(id_: str, label: str, dose: float, lymphodepletion: Mapping, note: str = "") -> Option:
    """A CD19 CAR-T option: autologous CAR+ cells/kg after the given lymphodepletion (mg/m2 totals)."""
    return Option(id_, label, "car_t", {"therapy": "car_t", "target": "cd19", "dose_cells_per_kg": dose,
                                        "lymphodepletion": dict(lymphodepletion), "product": "autologous"}, note)


def cd19_car_t() -> Option:
    """The CD19 CAR-T option of the diseases with published CAR-T series (lupus, systemic sclerosis): 1e6
    CAR+ cells/kg after the Erlangen lymphodepletion."""
    return car_t("car-t-cd19", "CD19 CAR-T, 1e6 CAR+ cells/kg after fludarabine/cyclophosphamide", 1.0e6, FLU_CY,
                 "investigational (Erlangen series: Mackensen et al. 2022 Nat Med 28:2124)")


def conventional(id_: str, label: str, drugs, note: str = "") -> Option:
    """Conventional drugs of the patient's disease (1 to 3)."""
    return Option(id_, label, "conventional", {"therapy": "conventional", "drugs": tuple(drugs)}, note)
