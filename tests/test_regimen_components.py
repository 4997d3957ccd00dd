"""Regimen components of an aHSCT arm: horse ATG, rituximab, fludarabine, methylprednisolone, TBI organ
shielding, mobilisation by weight, the graft day and rituximab after the graft; each scheduled as
:mod:`remit.therapies.ahsct.plan` says, and the antibodies' own pharmacology against published facts."""

from pathlib import Path

import numpy as np
import pytest

from remit.diseases import build_model
from remit.engine.codes import Event
from remit.engine.integrate import simulate
from remit.scenario import load_scenario, parse_scenario
from remit.therapies.ahsct.plan import ahsct_plan
from remit.therapies.schedule import ScheduleBuilder

MS = build_model("multiple_sclerosis")
EVIDENCE = Path(__file__).resolve().parents[1] / "src" / "remit" / "data" / "evidence" / "scenarios"


def ms_arm(**arm):
    data = {"trial": {"name": "components", "disease": "multiple_sclerosis", "seed": 1, "follow_up_years": 2,
                      "patients_per_arm": 10},
            "arms": [{"name": "aHSCT", "therapy": "ahsct",
                      "mobilization": {"cyclophosphamide_g_per_m2": 2.0, "g_csf": True},
                      "graft": {"source": "peripheral_blood", "cd34_per_kg": 5e6},
                      "conditioning": {"regimen": "cy_atg"}} | arm]}
    return parse_scenario(data, "components.toml").arms[0]


def events(plan, state_or_param: str, kind: int):
    s = plan.schedule
    index = MS.parameter_index(state_or_param) if kind == Event.SET_PARAM else MS.state_index(state_or_param)
    pick = (s.kind == kind) & (s.idx == index)
    return list(zip(s.t[pick].tolist(), s.val[pick].tolist(), s.pidx[pick].tolist()))


def test_components_are_scheduled_around_the_graft_day():
    arm = ms_arm(graft_day=20,
                 mobilization={"cyclophosphamide_g_per_m2": 0, "cyclophosphamide_mg_per_kg": 100, "g_csf": True},
                 conditioning={"regimen": "cy_atg", "equine_atg_mg_per_kg": 90, "rituximab_mg": 1000,
                               "fludarabine_mg_per_m2": 150, "methylprednisolone_mg": 5000})
    plan = ahsct_plan(MS, arm)
    assert plan.graft_day == 20 and plan.protocol_day == 20
    assert events(plan, "atg", Event.ADD) == []  # horse ATG replaced the standard rabbit dose
    assert events(plan, "eatg", Event.ADD) == [(float(d), 18.0, -1) for d in range(15, 20)]
    weight_inv = MS.parameter_index("weight_inv")
    assert events(plan, "rtx", Event.ADD) == [(14.0, 500.0, weight_inv), (21.0, 500.0, weight_inv)]
    cy = events(plan, "cy", Event.ADD)
    assert cy[:2] == [(0.0, 50.0, -1), (1.0, 50.0, -1)]  # mobilisation: 2 x 50 mg/kg
    assert [t for t, _, _ in cy[2:]] == [15.0, 16.0, 17.0, 18.0]  # conditioning ends 2 days before the graft
    gc = events(plan, "gc_effect", Event.SET_PARAM)
    assert [t for t, _, _ in gc] == [15.0, 16.0, 17.0, 18.0, 19.0, 21.0] and gc[-1][1] == 0.0
    assert all(0 < v < 0.9 for _, v, _ in gc[:-1])
    kills = [t for t, lab in zip(plan.schedule.t, plan.schedule.labels) if lab == "fludarabine_mg_per_m2"]
    assert kills and set(kills) == {14.0}
    graft = events(plan, "hsc", Event.ADD)
    assert [t for t, _, _ in graft] == [20.0]


def test_tbi_shielding_lowers_organ_toxicity_and_nothing_else():
    open_field = ahsct_plan(MS, ms_arm(conditioning={"regimen": "tbi_cy_atg"}))
    shielded = ahsct_plan(MS, ms_arm(conditioning={"regimen": "tbi_cy_atg", "tbi_lung_gy": 6, "tbi_kidney_gy": 10}))
    lung_only = ahsct_plan(MS, ms_arm(conditioning={"regimen": "tbi_cy_atg", "tbi_lung_gy": 6}))
    assert shielded.organ_toxicity_death < lung_only.organ_toxicity_death < open_field.organ_toxicity_death
    for a, b in ((open_field, shielded),):
        assert np.array_equal(a.schedule.t, b.schedule.t) and np.array_equal(a.schedule.val, b.schedule.val)


def test_rituximab_after_graft_gives_its_first_and_maintenance_doses():
    spec = load_scenario(EVIDENCE / "ms-outpatient-cy-rituximab-2019.toml")
    plan = ahsct_plan(MS, spec.arms[0])
    rtx = events(plan, "rtx", Event.ADD)
    assert plan.graft_day == 11
    assert rtx[0] == (20.0, 375.0, MS.parameter_index("bsa_per_kg"))  # 375 mg/m2 on day 9 after the graft
    assert [v for _, v, _ in rtx[1:]] == [100.0] * 6  # 100 mg every 2 months for 12 months
    assert rtx[-1][0] == pytest.approx(20.0 + 365.25)


def _one_patient(model):
    return np.array([[s.initial for s in model.states]]), np.array([[p.value for p in model.parameters]])


def test_rituximab_depletes_b_cells_for_about_six_months():
    """2 x 1000 mg two weeks apart: serum peak about 370 ug/mL and B cells nearly all gone within 2 weeks of
    the second dose, depleted for at least 6 months and recovering after (rituximab prescribing
    information, RA; Breedveld et al. 2007 J Clin Pharmacol 47:1119)."""
    model = build_model("rheumatoid_arthritis")
    y0, p = _one_patient(model)
    days = np.array([0.0, 14.0, 28.0, 182.0, 365.0])
    none = simulate(model, y0, p, ScheduleBuilder(model).build(), days)
    b = ScheduleBuilder(model)
    for day in (0.0, 14.0):
        b.dose(day, "rtx", 1000.0, per="weight_inv")
    given = simulate(model, y0, p, b.build(), days)
    bcell = given.y[0, :, model.state_index("bcell")] / none.y[0, :, model.state_index("bcell")]
    peak = given.y[0, 1, model.state_index("rtx")] * model.parameter("rtx_per_mg_kg").value
    assert 300 < peak < 450
    assert bcell[2] < 0.1 and bcell[3] < 0.5 and bcell[4] > 0.25


def test_horse_atg_depletes_cd4_less_than_rabbit_atg():
    """Horse ATG 40 mg/kg/day x 4 leaves more CD4 T cells in the months after than rabbit ATG 3.5 mg/kg/day
    x 5 (Scheinberg et al. 2011 NEJM 365:430)."""
    y0, p = _one_patient(MS)
    days = np.array([0.0, 90.0, 180.0])

    def cd4(state, dose, n, per):
        b = ScheduleBuilder(MS)
        for d in range(n):
            b.dose(float(d), state, dose, per=per)
        y = simulate(MS, y0, p, b.build(), days).y[0]
        return sum(y[:, MS.state_index(s)] for s in ("naive", "mem", "treg"))

    horse, rabbit = cd4("eatg", 40.0, 4, None), cd4("atg", 3.5, 5, "atg_per_mg_kg")
    assert np.all(horse[1:] > rabbit[1:]) and horse[1] < 0.1 * horse[0]


def test_a_methylprednisolone_pulse_damps_inflammation_for_days():
    y0, p = _one_patient(MS)
    days = np.array([0.0, 1.0, 10.0])
    b = ScheduleBuilder(MS)
    b.set(0.0, "gc_effect", 0.5).set(2.0, "gc_effect", 0.0)
    infl = MS.state_index("infl")
    pulsed = simulate(MS, y0, p, b.build(), days).y[0, :, infl]
    plain = simulate(MS, y0, p, ScheduleBuilder(MS).build(), days).y[0, :, infl]
    assert pulsed[1] < 0.7 * plain[1] and pulsed[2] == pytest.approx(plain[2], rel=0.2)


def ssc_scenario(arm: dict) -> dict:
    return {"trial": {"name": "pulses", "disease": "systemic_sclerosis", "seed": 1, "follow_up_years": 2,
                      "patients_per_arm": 10},
            "arms": [{"name": "CYC", "therapy": "conventional", "drugs": ["cyclophosphamide_iv"]} | arm]}


def test_a_pulse_schedule_with_its_own_first_dose():
    """500 mg/m2 first, then 750 mg/m2 monthly, 12 pulses in all, each through the patient's body surface."""
    from remit.diseases import get_disease
    from remit.therapies import arm_plan

    ssc = get_disease("systemic_sclerosis")
    model = build_model("systemic_sclerosis")
    spec = parse_scenario(ssc_scenario({"pulses": {"drug": "cyclophosphamide_iv", "first_mg_per_m2": 500,
                                                   "mg_per_m2": 750, "count": 12, "every_days": 30}}))
    plan = arm_plan(model, spec.arms[0], ssc.drugs)
    s = plan.schedule
    cy = (s.kind == Event.ADD) & (s.idx == model.state_index("cy"))
    assert s.t[cy].tolist() == [30.0 * k for k in range(12)]
    assert s.val[cy].tolist() == [500.0] + [750.0] * 11
    assert set(s.pidx[cy].tolist()) == {model.parameter_index("bsa_per_kg")}
    assert plan.protocol == "at least 9 of 12 cyclophosphamide_iv pulses" and plan.protocol_day == 240.0
    # the drug's effect ends one interval after its last pulse
    off = (s.kind == Event.SET_PARAM) & (s.idx == model.parameter_index("dmt_target")) & (s.val == 0.0)
    assert s.t[off].tolist() == [360.0]


@pytest.mark.parametrize(("pulses", "words"), [
    ({"drug": "mycophenolate", "mg_per_m2": 750, "count": 6, "every_days": 30},
     "arms[0].pulses.drug = 'mycophenolate': must be one of this arm's pulsed drugs (cyclophosphamide_iv)"),
    ({"drug": "cyclophosphamide_iv", "mg_per_m2": 750, "count": 0, "every_days": 30},
     "arms[0].pulses.count = 0: must be between 1 and 60 pulses"),
    ({"drug": "cyclophosphamide_iv", "mg_per_m2": 3000, "count": 6, "every_days": 30},
     "arms[0].pulses.mg_per_m2 = 3000: must be between 0 and 1500 mg/m2"),
])
def test_bad_pulse_schedules_are_refused(pulses, words):
    from remit.errors import ScenarioError

    with pytest.raises(ScenarioError) as e:
        parse_scenario(ssc_scenario({"pulses": pulses}), "p.toml")
    assert words in str(e.value)
