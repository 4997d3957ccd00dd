"""Stylized facts of MS and aHSCT (DESIGN.md section 3), each with its literature range."""

import numpy as np
import pytest

from remit.engine.integrate import SolverOptions, simulate
from remit.diseases import build_model, get_disease
from remit.diseases.multiple_sclerosis.clinical import draw_relapses
from remit.population import YEAR, burn_in, eligible
from remit.random import TRIAL, patient_keys
from remit.scenario import parse_scenario
from remit.therapies import arm_plan
from remit.therapies.schedule import ScheduleBuilder
from remit.trial import engraftment_day, output_grid

MODEL = build_model("multiple_sclerosis")


def scenario(course="relapsing_remitting", relapses_min=1, age=(36, 8, 18, 55), duration=(6, 4, 0.5, 10), prior=(), arms=None):
    arms = arms or [{"name": "DMT", "therapy": "conventional", "drugs": ["interferon_beta"]}]
    return parse_scenario({
        "trial": {"name": "t", "disease": "multiple_sclerosis", "seed": 11, "follow_up_years": 3, "patients_per_arm": 10},
        "population": {"age": dict(zip(("mean", "sd", "min", "max"), age)), "edss": {"mean": 3.5, "sd": 1.5, "min": 0, "max": 9.5},
                       "relapses_prior_year": {"min": relapses_min},
                       "disease_duration_years": dict(zip(("mean", "sd", "min", "max"), duration)),
                       "course": course, "prior_dmt": list(prior)},
        "arms": arms,
    })


def cohort(spec, n=1500):
    c = burn_in(MODEL, spec, np.arange(n), SolverOptions())
    return c.take(np.flatnonzero(eligible(c, spec)))


def follow(c, schedule, years=2.0, seed=11):
    t = output_grid(years * YEAR)
    tr = simulate(MODEL, c.y, c.params, schedule, t)
    p = {n: c.params[:, j] for j, n in enumerate(MODEL.parameter_names)}
    rel = draw_relapses(t, tr["cum_attack"], p, patient_keys(seed, TRIAL, c.candidate))
    return t, tr, rel


AHSCT = {"name": "aHSCT", "therapy": "ahsct", "mobilization": {"cyclophosphamide_g_per_m2": 2.0, "g_csf": True},
         "graft": {"source": "peripheral_blood", "cd34_per_kg": 5e6},
         "conditioning": {"regimen": "cy_atg", "cyclophosphamide_mg_per_kg": 200, "atg_mg_per_kg": 6.0}}


@pytest.fixture(scope="module")
def active_rrms():
    spec = scenario(arms=[AHSCT, {"name": "DMT", "therapy": "conventional", "drugs": ["natalizumab"]}])
    return spec, cohort(spec)


def test_untreated_active_rrms_relapses_and_accumulates_disability(active_rrms):
    """Untreated active RRMS relapses about 0.5-1.5 times a year (placebo arms: AFFIRM 0.73,
    FREEDOMS 0.40 in less active cohorts; Polman 2006, Kappos 2010) and accumulates EDSS."""
    spec, c = active_rrms
    t, tr, rel = follow(c, ScheduleBuilder(MODEL).build())
    arr = rel.count.sum() / (len(c.candidate) * 2.0)
    assert 0.5 <= arr <= 1.5, arr
    dirr = tr["dirr"]
    assert np.mean(dirr[:, -1] - dirr[:, 0]) > 0.05


def test_dmt_works_while_given_and_disease_returns_after_stopping(active_rrms):
    """Natalizumab lowers relapses by about 68% while given (AFFIRM) and activity returns
    within months of stopping (RESTORE, Fox et al. 2014 Neurology 82:1491)."""
    spec, c = active_rrms
    from remit.diseases.multiple_sclerosis.clinical import MS_DRUG_TABLE
    from remit.therapies.drugs import add_drugs

    t, _, none = follow(c, ScheduleBuilder(MODEL).build(), years=3)
    b = add_drugs(ScheduleBuilder(MODEL), MS_DRUG_TABLE, ["natalizumab"], 0.0, stop=YEAR)
    _, _, nat = follow(c, b.build(), years=3)
    def rate(h, y0, y1):
        sel = (h.t > y0 * YEAR) & (h.t <= y1 * YEAR)
        return np.where(sel, h.count, 0).sum()
    on = rate(nat, 0.25, 1.0) / rate(none, 0.25, 1.0)
    off = rate(nat, 2.0, 3.0) / rate(none, 2.0, 3.0)
    assert 0.15 <= on <= 0.55, on
    assert off > 0.75, off


def test_disability_recovers_when_inflammation_stops(active_rrms):
    """Part of the disability of active relapsing MS recovers once inflammation stops: mean EDSS fell from 3.38 to
    2.36 in the first year after aHSCT and rose from 3.31 to 3.98 on DMT (MIST, Burt et al. 2019 JAMA 321:165).
    After aHSCT the recoverable part falls by at least 60% within a year and by 0.3-1.5 EDSS points on average;
    untreated, it stays (at least 70% of its baseline level a year later)."""
    spec, c = active_rrms
    plan = arm_plan(MODEL, spec.arms[0], get_disease("multiple_sclerosis").drugs)
    sub = c.take(np.arange(min(300, len(c.candidate))))
    t, tr, _ = follow(sub, plan.schedule, years=1)
    _, tr0, _ = follow(sub, ScheduleBuilder(MODEL).build(), years=1)
    before, after, untreated = tr["drec"][:, 0].mean(), tr["drec"][:, -1].mean(), tr0["drec"][:, -1].mean()
    assert after <= 0.4 * before, (before, after)
    assert 0.3 <= before - after <= 1.5, (before, after)
    assert untreated >= 0.7 * before, (before, untreated)


def test_progressive_ms_responds_little_to_immune_therapy():
    """Primary progressive MS: immune therapy barely slows disability (ORATORIO: 24% relative
    reduction of confirmed progression with ocrelizumab, Montalban 2017)."""
    spec = scenario(course="primary_progressive", relapses_min=0, age=(45, 8, 25, 65), duration=(8, 4, 1, 20))
    c = cohort(spec, 600)
    _, tr0, _ = follow(c, ScheduleBuilder(MODEL).build(), years=3)
    from remit.diseases.multiple_sclerosis.clinical import MS_DRUG_TABLE
    from remit.therapies.drugs import add_drugs

    _, tr1, _ = follow(c, add_drugs(ScheduleBuilder(MODEL), MS_DRUG_TABLE, ["natalizumab"], 0.0).build(), years=3)
    w0 = np.mean(tr0["dirr"][:, -1] - tr0["dirr"][:, 0])
    w1 = np.mean(tr1["dirr"][:, -1] - tr1["dirr"][:, 0])
    assert w0 > 0.3  # about 0.2-0.4 EDSS/year in progressive MS
    assert w1 > 0.7 * w0, (w0, w1)


@pytest.mark.parametrize("source,lo,hi", [("peripheral_blood", 8, 14), ("bone_marrow", 14, 25), ("cord_blood", 18, 35)])
def test_neutrophil_engraftment_by_graft_source(active_rrms, source, lo, hi):
    """ANC >= 0.5e9/L: median day 8-14 with autologous PBSC (ms-outpatient-cy-rituximab-2019: day 8, range 2-14;
    ssc-nash-2007: day 9), later with marrow (about 15-19 days) and cord blood (16-55, median about 23;
    kin-engraftment-graft-source)."""
    spec, c = active_rrms
    arm = dict(AHSCT, graft={"source": source, "cd34_per_kg": {"peripheral_blood": 5e6, "bone_marrow": 2.5e6, "cord_blood": 2.5e5}[source]})
    s = scenario(arms=[arm])
    plan = arm_plan(MODEL, s.arms[0], get_disease("multiple_sclerosis").drugs)
    sub = c.take(np.arange(min(200, len(c.candidate))))
    t, tr, _ = follow(sub, plan.schedule, years=1)
    days = engraftment_day(t, tr["anc"], plan.graft_day)
    assert np.isfinite(days).mean() > 0.9
    assert lo <= np.nanmedian(days) <= hi, np.nanmedian(days)


def test_cd4_stays_low_for_months_after_atg(active_rrms):
    """CD4 T cells stay low for many months after ATG-containing aHSCT: still below normal at
    1-2 years (Storek 2008: median 388/uL at 2 years; kin-cd4-reviews: 1-5 years to normal)."""
    spec, c = active_rrms
    plan = arm_plan(MODEL, spec.arms[0], get_disease("multiple_sclerosis").drugs)
    sub = c.take(np.arange(min(200, len(c.candidate))))
    t, tr, _ = follow(sub, plan.schedule, years=2)
    cd4 = tr["naive"] + tr["mem"] + tr["treg"]
    at = lambda d: np.median(cd4[:, np.searchsorted(t, d)])  # noqa: E731
    assert at(0) > 600
    assert at(plan.graft_day + 30) < 50  # T cells near-undetectable in the first weeks (Storek 2008)
    assert at(0.5 * YEAR) < 350
    assert at(1.0 * YEAR) < 550
    assert at(2.0 * YEAR) < at(0)


def test_ahsct_stops_inflammation_in_the_young_and_helps_older_long_disease_less():
    """aHSCT nearly stops inflammatory activity in younger patients with inflammatory disease
    (MIST: 1 of 55 relapsed, ms-mist-interim-2018); in older patients with long disease its
    benefit on disability is smaller, disability there being mostly neurodegenerative
    (Muraro 2017: worse progression-free survival with older age and progressive course)."""
    arms = [AHSCT]
    young = scenario(age=(28, 4, 18, 35), duration=(3, 2, 0.5, 6), relapses_min=2, arms=arms)
    old = scenario(age=(52, 4, 45, 60), duration=(18, 4, 12, 25), relapses_min=0, arms=arms)
    out = {}
    for name, s in (("young", young), ("old", old)):
        c = cohort(s, 1500)
        c = c.take(np.arange(min(300, len(c.candidate))))
        plan = arm_plan(MODEL, s.arms[0], get_disease("multiple_sclerosis").drugs)
        t, tr, rel = follow(c, plan.schedule, years=3)
        _, tr0, rel0 = follow(c, ScheduleBuilder(MODEL).build(), years=3)
        late = rel.t[0] > YEAR
        relapse_ratio = rel.count[:, late].sum() / max(rel0.count[:, late].sum(), 1)
        worsening = np.mean(tr["dirr"][:, -1] - tr["dirr"][:, 0])
        worsening0 = np.mean(tr0["dirr"][:, -1] - tr0["dirr"][:, 0])
        out[name] = (relapse_ratio, 1 - worsening / worsening0)
    assert out["young"][0] < 0.1, out  # >= 90% fewer relapses than untreated in years 2-3
    assert out["old"][1] < out["young"][1] - 0.2, out  # less disability prevented


def test_early_months_carry_the_infection_and_death_risk(active_rrms):
    """Treatment-related deaths after aHSCT cluster in the first 100 days (neutropenic infection;
    Muraro 2017: transplant-related deaths early)."""
    spec, c = active_rrms
    plan = arm_plan(MODEL, spec.arms[0], get_disease("multiple_sclerosis").drugs)
    sub = c.take(np.arange(min(200, len(c.candidate))))
    t, tr, _ = follow(sub, plan.schedule, years=2)
    h = tr["cum_inf"]
    early = np.mean(h[:, np.searchsorted(t, plan.graft_day + 100)] - h[:, 0]) / (plan.graft_day + 100)
    late = np.mean(h[:, -1] - h[:, np.searchsorted(t, YEAR)]) / YEAR
    assert early > 10 * late, (early, late)
