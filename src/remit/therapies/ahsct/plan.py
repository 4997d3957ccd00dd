"""aHSCT protocols as model events: mobilisation, conditioning, graft infusion, G-CSF.

Timeline (days from the start of treatment, day 0 = mobilisation): cyclophosphamide
mobilisation on day 0, G-CSF on days 4-10 (leukapheresis), conditioning on the days
before the graft, graft infusion on the arm's ``graft_day`` (default 35; MIST: transplant
about 1 month after mobilisation, Burt et al. 2019 JAMA 321:165).

Cyclophosphamide, rabbit and horse ATG and rituximab are doses of the model's drug states
(each its own kinetics); a methylprednisolone pulse suppresses inflammatory output for
``MP_EFFECT_DAYS``. The other conditioning agents act
as natural-log kills of the stem-cell reserve, lymphocytes and thymic function; each
value is a modelling assumption anchored on which regimens are myeloablative (BEAM,
busulfan 16 mg/kg, TBI >= 8 Gy need a graft: surviving stem-cell fraction < 1e-3) and
on TBI radiosensitivities (D0 about 1.2 Gy for marrow progenitors, 0.7 Gy for
lymphocytes). Organ-toxicity death risks are per standard dose for a 35-year-old with
EDSS 3, and rise with intensity (EBMT: higher transplant-related mortality with
high-intensity regimens, Muraro et al. 2017 JAMA Neurol 74:459; Snowden et al. 2012
Bone Marrow Transplant 47:770).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from remit.model.spec import ModelSpec
from remit.schedule import YEAR
from remit.therapies.base import ArmPlan
from remit.therapies.drugs import stop_all
from remit.therapies.schedule import ScheduleBuilder

GRAFT_DAY = 35.0  # the default graft day (AhsctArm.graft_day)
CD34_NORMAL_MARROW_PER_KG = 1.0e8  # modelling assumption: CD34+ content of a normal marrow, cells/kg
GCSF_DAYS = (4.0, 11.0)

# Engraftment potential per infused CD34+ cell relative to mobilised blood (modelling
# assumption, calibrated to median ANC recovery: PBSC about 9-14 d, marrow about 15-19 d,
# cord blood about 23-25 d: kin-engraftment-graft-source, ms-outpatient-cy-rituximab-2019).
GRAFT_POTENCY = {"peripheral_blood": 1.0, "bone_marrow": 0.35, "cord_blood": 2.0}
# T cells reinfused with an unmanipulated graft, as blood-equivalent CD4/uL and as a
# fraction of the patient's autoreactive pool (assumption: about 2-3e8 CD3/kg in an
# apheresis product, about 2% of body lymphocytes circulate). CD34 selection removes
# about 3.5 logs of T cells (CliniMACS).
GRAFT_T_CELLS = {"peripheral_blood": 35.0, "bone_marrow": 8.0, "cord_blood": 2.0}
CD34_SELECTION_LOG10_DEPLETION = 3.5


@dataclass(frozen=True)
class Agent:
    standard_dose: float
    unit: str
    hsc_logs: float  # natural-log kill of the stem-cell reserve at the standard dose
    lymph_logs: float
    thymus_logs: float
    toxic_death: float  # organ-toxicity death probability at the standard dose


AGENTS = {
    "carmustine_mg_per_m2": Agent(300.0, "mg/m2", 1.5, 1.0, 0.3, 0.002),
    "etoposide_mg_per_m2": Agent(800.0, "mg/m2", 1.0, 1.0, 0.1, 0.001),
    "cytarabine_mg_per_m2": Agent(1600.0, "mg/m2", 1.5, 0.5, 0.1, 0.001),
    "melphalan_mg_per_m2": Agent(140.0, "mg/m2", 3.0, 1.5, 0.5, 0.002),
    "busulfan_mg_per_kg": Agent(16.0, "mg/kg", 8.0, 0.5, 0.7, 0.012),
    "tbi_gy": Agent(10.0, "Gy", 8.0, 14.0, 1.5, 0.010),
    # fludarabine 30 mg/m2/day x 5: non-myeloablative (autologous recovery without a graft) but deeply
    # lymphodepleting, CD4 below 200/uL for months (Keating et al. 1998 Blood 92:1165); toxicity mostly
    # infections, which the model draws from the counts (assumption for the organ-toxicity share)
    "fludarabine_mg_per_m2": Agent(150.0, "mg/m2", 0.5, 3.0, 0.5, 0.002),
}
CY_TOXIC_DEATH_PER_200_MG_KG = 0.001  # cardiotoxicity etc. of high-dose cyclophosphamide

# TBI's organ-toxicity deaths by organ (modelling assumption: idiopathic pneumonitis dominates, late
# nephropathy next; pneumonitis falls when the lung dose is kept at or below about 8 Gy by shielding,
# Sampath et al. 2005 Int J Radiat Oncol Biol Phys 63:876); each share scales with that organ's dose
TBI_TOXICITY_SHARE = {"lung": 0.6, "kidney": 0.15, "other": 0.25}

# conditioning schedules, days relative to the graft (Burt protocol: Cy 50 mg/kg/day on days -5..-2,
# rabbit ATG 0.5, 1, 1.5, 1.5, 1.5 mg/kg on days -5..-1, methylprednisolone with each ATG dose;
# rituximab 1000 mg in sle-burt-2018-5y, its timing an assumption: half before conditioning, half
# after the graft)
CY_DAYS = {d: 1 / 4 for d in range(-5, -1)}
AGENT_DAY = -6  # the log-kill agents (BEAM, busulfan, TBI, fludarabine), lumped on one day
RABBIT_ATG_DAYS = {-5: 1 / 12, -4: 1 / 6, -3: 1 / 4, -2: 1 / 4, -1: 1 / 4}
EQUINE_ATG_DAYS = {d: 1 / 5 for d in range(-5, 0)}  # equal daily doses (labelled use: 10-40 mg/kg/day)
RITUXIMAB_DAYS = {-6: 1 / 2, 1: 1 / 2}
MP_DAYS = {d: 1 / 5 for d in range(-5, 0)}
# a methylprednisolone pulse: lymphopenia and cytokine suppression after 1 g IV resolve within 1-3 days
# (Fauci et al. 1976 Ann Intern Med 84:304); maximal suppression of inflammatory output and the daily
# dose giving half of it are modelling assumptions
MP_EFFECT_DAYS = 2.0
MP_IMAX = 0.7
MP_ED50_MG = 250.0


# the lymphocyte pools a conditioning or lymphodepleting agent kills by its lymph_logs
LYMPHOCYTE_STATES = ("naive", "mem", "treg", "teff", "bcell", "b_cells")


def agent_kill(b: ScheduleBuilder, day: float, agent: Agent, rel: float, label: str) -> None:
    """The natural-log kills of ``rel`` standard doses of ``agent`` on ``day``: stem/progenitor reserve,
    proliferating precursors, every lymphocyte pool, thymic function."""
    b.kill(day, "hsc", agent.hsc_logs * rel, label=label)
    b.kill(day, "prog", agent.hsc_logs * rel, label=label)
    for state in LYMPHOCYTE_STATES:
        b.kill(day, state, agent.lymph_logs * rel, label=label)
    b.kill(day, "thy", agent.thymus_logs * rel, label=label)


def mobilize(b: ScheduleBuilder, mob) -> None:
    """Mobilisation cyclophosphamide (g/m2, per body surface, on day 0; or mg/kg, in daily doses of at
    most 50 mg/kg from day 0) and G-CSF (``mob``: an :class:`~remit.therapies.ahsct.schema.Mobilization`)."""
    if mob.cyclophosphamide_g_per_m2 > 0:
        b.dose(0.0, "cy", mob.cyclophosphamide_g_per_m2 * 1000.0, per="bsa_per_kg", label="mobilisation cyclophosphamide")
    n = math.ceil(mob.cyclophosphamide_mg_per_kg / 50.0)
    for k in range(n):
        b.dose(float(k), "cy", mob.cyclophosphamide_mg_per_kg / n, label="mobilisation cyclophosphamide")
    if mob.g_csf:
        b.set(GCSF_DAYS[0] if mob.cyclophosphamide else 0.0, "gcsf", 1.0, "G-CSF start")
        b.set(GCSF_DAYS[1] if mob.cyclophosphamide else 6.0, "gcsf", 0.0, "G-CSF stop")


def methylprednisolone(b: ScheduleBuilder, days: dict[float, float], total_mg: float) -> None:
    """Methylprednisolone pulses of ``total_mg`` split over ``days`` (day -> fraction)."""
    for day, frac in sorted(days.items()):
        mg = total_mg * frac
        b.set(day, "gc_effect", MP_IMAX * mg / (mg + MP_ED50_MG), f"methylprednisolone {mg:.0f} mg")
    b.set(max(days) + MP_EFFECT_DAYS, "gc_effect", 0.0, "methylprednisolone effect over")


def rituximab_after_graft(b: ScheduleBuilder, graft_day: float, course) -> None:
    """The first dose (mg/m2) and the flat maintenance doses (mg) of a
    :class:`~remit.therapies.ahsct.schema.RituximabAfterGraft`."""
    first = graft_day + course.day
    b.dose(first, "rtx", course.mg_per_m2, per="bsa_per_kg", label="rituximab")
    if course.maintenance_mg > 0:
        step = course.maintenance_every_months * YEAR / 12.0
        for k in range(1, int(course.maintenance_months / course.maintenance_every_months + 1e-9) + 1):
            b.dose(first + k * step, "rtx", course.maintenance_mg, per="weight_inv", label="rituximab maintenance")


def ahsct_plan(model: ModelSpec, arm) -> ArmPlan:
    """Events of an aHSCT arm (``arm`` is a :class:`remit.therapies.ahsct.schema.AhsctArm`)."""
    graft_day = arm.graft_day
    b = ScheduleBuilder(model)
    stop_all(b, 0.0)  # maintenance therapy stops for the transplant
    mobilize(b, arm.mobilization)

    cond = arm.conditioning
    doses = cond.doses()
    tox = 0.0
    cy = doses.get("cyclophosphamide_mg_per_kg", 0.0)
    if cy > 0:
        tox += CY_TOXIC_DEATH_PER_200_MG_KG * cy / 200.0
    for field, state, days, per, what in (("cyclophosphamide_mg_per_kg", "cy", CY_DAYS, None, "conditioning cyclophosphamide"),
                                          ("atg_mg_per_kg", "atg", RABBIT_ATG_DAYS, "atg_per_mg_kg", "rabbit ATG"),
                                          ("equine_atg_mg_per_kg", "eatg", EQUINE_ATG_DAYS, None, "horse ATG"),
                                          ("rituximab_mg", "rtx", RITUXIMAB_DAYS, "weight_inv", "rituximab")):
        if doses.get(field, 0.0) > 0:
            for day, frac in days.items():
                b.dose(graft_day + day, state, doses[field] * frac, per=per, label=what)
    if doses.get("methylprednisolone_mg", 0.0) > 0:
        methylprednisolone(b, {graft_day + d: f for d, f in MP_DAYS.items()}, doses["methylprednisolone_mg"])
    for name, agent in AGENTS.items():
        dose = doses.get(name, 0.0)
        if dose <= 0:
            continue
        rel = dose / agent.standard_dose
        agent_kill(b, graft_day + AGENT_DAY, agent, rel, name)
        if name == "tbi_gy":  # shielding lowers the lungs' and kidneys' part of the toxicity
            share = TBI_TOXICITY_SHARE
            rel = (share["other"] * rel + share["lung"] * cond.organ_gy("lung") / agent.standard_dose
                   + share["kidney"] * cond.organ_gy("kidney") / agent.standard_dose)
        tox += agent.toxic_death * rel

    graft = arm.graft
    b.dose(graft_day, "hsc", graft.cd34_per_kg / CD34_NORMAL_MARROW_PER_KG * GRAFT_POTENCY[graft.source],
           per="engraft_factor", label=f"graft ({graft.source})")
    t_frac = 10.0 ** (-CD34_SELECTION_LOG10_DEPLETION) if graft.cd34_selection else 1.0
    cd4 = GRAFT_T_CELLS[graft.source] * t_frac
    b.dose(graft_day, "mem", 0.7 * cd4, label="graft T cells")
    b.dose(graft_day, "naive", 0.25 * cd4, label="graft T cells")
    b.dose(graft_day, "treg", 0.05 * cd4, label="graft T cells")
    b.dose(graft_day, "teff", cd4 / 800.0, label="graft autoreactive T cells")
    if arm.g_csf_after_graft:
        b.set(graft_day + 5, "gcsf", 1.0, "G-CSF after graft")
        b.set(graft_day + 14, "gcsf", 0.0, "G-CSF stop")
    if arm.rituximab_after_graft is not None:
        rituximab_after_graft(b, graft_day, arm.rituximab_after_graft)
    desc = f"aHSCT: {cond.regimen}, {graft.source} graft {graft.cd34_per_kg:.2g} CD34+/kg" + (" (CD34-selected)" if graft.cd34_selection else "")
    return ArmPlan(b.build(), graft_day, min(tox, 0.5), desc, graft_day, "transplanted (alive at the graft)")
