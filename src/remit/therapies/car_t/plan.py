"""CAR-T therapy as model events: lymphodepletion, then one infusion of CAR+ cells.

Timeline (days from randomisation): apheresis and manufacture until ``infusion_day``; the
patient's immunosuppressive drugs are stopped when lymphodepletion starts (the autoimmune series
stopped them before the infusion: Erlangen SSc series, ACR Convergence 2023; drug-free remission after
it: Mackensen et al. 2022 Nat Med 28:2124);
fludarabine in equal daily doses on days -5, -4 and -3 and cyclophosphamide on day -3 before the
infusion; the cells on ``infusion_day``.

Fludarabine acts as the natural-log kill of the conditioning-agent table of aHSCT
(:data:`remit.therapies.ahsct.plan.AGENTS`, one table for both therapies), cyclophosphamide as a
dose of the core's cyclophosphamide state, so the lymphopenia, neutropenia and infections of
lymphodepletion come from the same model as those of conditioning. Their organ-toxicity deaths
come from the same table; CAR-T-specific toxicity (CRS, ICANS) is observed from the CAR-T peak
(:mod:`remit.therapies.car_t.observe`).
"""

from __future__ import annotations

from remit.model.spec import ModelSpec
from remit.therapies.ahsct.plan import AGENTS, CY_TOXIC_DEATH_PER_200_MG_KG, agent_kill
from remit.therapies.base import ArmPlan
from remit.therapies.drugs import stop_all
from remit.therapies.schedule import ScheduleBuilder

CELLS_UNIT = 1.0e6  # the dose scale of car_blood_per_dose: 1e6 CAR+ cells/kg
FLUDARABINE_DAYS = (-5.0, -4.0, -3.0)
CYCLOPHOSPHAMIDE_DAY = -3.0
STOP_DRUGS_DAY = -5.0  # immunosuppression stopped when lymphodepletion starts
REFERENCE_BSA_PER_KG = 1.8 / 70.0  # m2/kg, to express mg/m2 in mg/kg for the organ-toxicity estimate


def car_t_plan(model: ModelSpec, arm) -> ArmPlan:
    """Events of a CAR-T arm (``arm``: a :class:`remit.therapies.car_t.schema.CarTArm`)."""
    day0 = float(arm.infusion_day)
    b = ScheduleBuilder(model)
    stop_all(b, day0 + STOP_DRUGS_DAY)
    ld = arm.lymphodepletion
    tox = 0.0
    if ld.fludarabine_mg_per_m2 > 0:
        flu = AGENTS["fludarabine_mg_per_m2"]
        rel = ld.fludarabine_mg_per_m2 / flu.standard_dose / len(FLUDARABINE_DAYS)
        for d in FLUDARABINE_DAYS:
            agent_kill(b, day0 + d, flu, rel, "fludarabine")
        tox += flu.toxic_death * ld.fludarabine_mg_per_m2 / flu.standard_dose
    if ld.cyclophosphamide_mg_per_m2 > 0:
        b.dose(day0 + CYCLOPHOSPHAMIDE_DAY, "cy", ld.cyclophosphamide_mg_per_m2, per="bsa_per_kg",
               label="lymphodepletion cyclophosphamide")
        tox += CY_TOXIC_DEATH_PER_200_MG_KG * ld.cyclophosphamide_mg_per_m2 * REFERENCE_BSA_PER_KG / 200.0
    b.dose(day0, "car_drive", 1.0, label="CAR-T infusion (proliferative drive)")
    b.dose(day0, "car_eff", arm.dose_cells_per_kg / CELLS_UNIT, per="car_blood_per_dose",
           label=f"CAR-T infusion ({arm.target.upper()}, {arm.product})")
    what = (f"fludarabine {ld.fludarabine_mg_per_m2:g} mg/m2 + cyclophosphamide {ld.cyclophosphamide_mg_per_m2:g} mg/m2"
            if ld.given else "no lymphodepletion")
    desc = f"CAR-T: {arm.target.upper()} {arm.product}, {arm.dose_cells_per_kg:.2g} CAR+ cells/kg on day {day0:g}, {what}"
    return ArmPlan(b.build(), float("nan"), tox, desc, day0, "infused (alive on the infusion day)")
