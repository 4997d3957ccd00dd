"""aHSCT protocols as model events: mobilisation, conditioning, graft infusion, G-CSF.

Timeline (days from the start of treatment, day 0 = mobilisation): cyclophosphamide
mobilisation on day 0, G-CSF on days 4-10 (leukapheresis), conditioning on the days
before the graft, graft infusion on ``GRAFT_DAY`` (MIST: transplant about 1 month after
mobilisation, Burt et al. 2019 JAMA 321:165).

Conditioning agents other than cyclophosphamide (modelled by its pharmacokinetics) act
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

from dataclasses import dataclass

from remit.model.spec import ModelSpec
from remit.therapies.base import ArmPlan
from remit.therapies.drugs import stop_all
from remit.therapies.schedule import ScheduleBuilder

GRAFT_DAY = 35.0
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
}
CY_TOXIC_DEATH_PER_200_MG_KG = 0.001  # cardiotoxicity etc. of high-dose cyclophosphamide


def mobilize(b: ScheduleBuilder, mob) -> None:
    """Mobilisation cyclophosphamide (g/m2, per body surface) on day 0 and G-CSF (``mob``: an
    :class:`~remit.therapies.ahsct.schema.Mobilization`)."""
    if mob.cyclophosphamide_g_per_m2 > 0:
        b.dose(0.0, "cy", mob.cyclophosphamide_g_per_m2 * 1000.0, per="bsa_per_kg", label="mobilisation cyclophosphamide")
    if mob.g_csf:
        b.set(GCSF_DAYS[0] if mob.cyclophosphamide_g_per_m2 > 0 else 0.0, "gcsf", 1.0, "G-CSF start")
        b.set(GCSF_DAYS[1] if mob.cyclophosphamide_g_per_m2 > 0 else 6.0, "gcsf", 0.0, "G-CSF stop")


def ahsct_plan(model: ModelSpec, arm) -> ArmPlan:
    """Events of an aHSCT arm (``arm`` is a :class:`remit.therapies.ahsct.schema.AhsctArm`)."""
    b = ScheduleBuilder(model)
    stop_all(b, 0.0)  # maintenance therapy stops for the transplant
    mobilize(b, arm.mobilization)

    cond = arm.conditioning
    doses = cond.doses()
    tox = 0.0
    cy = doses.get("cyclophosphamide_mg_per_kg", 0.0)
    if cy > 0:  # split over 4 days before the graft (Burt protocol: 50 mg/kg/day, days -5 to -2)
        for k in range(4):
            b.dose(GRAFT_DAY - 5 + k, "cy", cy / 4.0, label="conditioning cyclophosphamide")
        tox += CY_TOXIC_DEATH_PER_200_MG_KG * cy / 200.0
    atg = doses.get("atg_mg_per_kg", 0.0)
    if atg > 0:  # rATG 0.5, 1, 1.5, 1.5, 1.5 mg/kg on days -5 to -1 (Burt protocol), scaled
        for k, frac in enumerate((1 / 12, 1 / 6, 1 / 4, 1 / 4, 1 / 4)):
            b.dose(GRAFT_DAY - 5 + k, "atg", atg * frac, per="atg_per_mg_kg", label="ATG")
    for name, agent in AGENTS.items():
        dose = doses.get(name, 0.0)
        if dose <= 0:
            continue
        rel = dose / agent.standard_dose
        day = GRAFT_DAY - 6
        b.kill(day, "hsc", agent.hsc_logs * rel, label=name)
        b.kill(day, "prog", agent.hsc_logs * rel, label=name)
        for state in ("naive", "mem", "treg", "teff", "bcell"):
            b.kill(day, state, agent.lymph_logs * rel, label=name)
        b.kill(day, "thy", agent.thymus_logs * rel, label=name)
        tox += agent.toxic_death * rel

    graft = arm.graft
    b.dose(GRAFT_DAY, "hsc", graft.cd34_per_kg / CD34_NORMAL_MARROW_PER_KG * GRAFT_POTENCY[graft.source],
           per="engraft_factor", label=f"graft ({graft.source})")
    t_frac = 10.0 ** (-CD34_SELECTION_LOG10_DEPLETION) if graft.cd34_selection else 1.0
    cd4 = GRAFT_T_CELLS[graft.source] * t_frac
    b.dose(GRAFT_DAY, "mem", 0.7 * cd4, label="graft T cells")
    b.dose(GRAFT_DAY, "naive", 0.25 * cd4, label="graft T cells")
    b.dose(GRAFT_DAY, "treg", 0.05 * cd4, label="graft T cells")
    b.dose(GRAFT_DAY, "teff", cd4 / 800.0, label="graft autoreactive T cells")
    if arm.g_csf_after_graft:
        b.set(GRAFT_DAY + 5, "gcsf", 1.0, "G-CSF after graft")
        b.set(GRAFT_DAY + 14, "gcsf", 0.0, "G-CSF stop")
    desc = f"aHSCT: {cond.regimen}, {graft.source} graft {graft.cd34_per_kg:.2g} CD34+/kg" + (" (CD34-selected)" if graft.cd34_selection else "")
    return ArmPlan(b.build(), GRAFT_DAY, min(tox, 0.5), desc, GRAFT_DAY, "transplanted (alive at the graft)")
