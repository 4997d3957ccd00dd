"""Rheumatoid arthritis: scenario validation, stylized facts with their literature ranges, a small trial."""

import math

import numpy as np
import pytest

from remit.diseases.rheumatoid_arthritis.clinical import DISEASE, acr_response
from remit.engine.integrate import SolverOptions, simulate
from remit.errors import ScenarioError
from remit.diseases import build_model
from remit.diseases.rheumatoid_arthritis.model import das28_crp, das28_esr
from remit.population import YEAR, burn_in, eligible
from remit.scenario import parse_scenario
from remit.therapies import arm_plan
from remit.therapies.schedule import ScheduleBuilder
from remit.trial import Trial, output_grid

MODEL = build_model("rheumatoid_arthritis")


def scenario(population=None, arms=None, follow_up=1, n=10, seed=5):
    pop = {"das28": {"mean": 5.8, "sd": 0.9, "min": 3.2}, "prior_therapy": ["methotrexate"]}
    pop.update(population or {})
    arms = arms or [{"name": "placebo", "therapy": "placebo", "background": ["methotrexate"]}]
    return parse_scenario({
        "trial": {"name": "t", "disease": "rheumatoid_arthritis", "seed": seed, "follow_up_years": follow_up,
                  "patients_per_arm": n},
        "population": pop, "arms": arms,
    }, "ra.toml")


# --- (a) scenario validation: one line naming file, field, value and allowed range ---------------


@pytest.mark.parametrize("population,field,value,allowed", [
    ({"das28": {"mean": 11.0}}, "population.das28.mean", "11.0", "between 0 and 10 DAS28 points"),
    ({"das28": {"sd": 0.0}}, "population.das28.sd", "0.0", "DAS28 points"),
    ({"das28": {"min": 6.0, "max": 4.0}}, "population.das28.min", "6.0", "must not exceed max"),
    ({"swollen_joints": {"min": 30}}, "population.swollen_joints.min", "30", "between 0 and 28 joints"),
    ({"tender_joints": {"max": -1}}, "population.tender_joints.max", "-1", "between 0 and 28 joints"),
    ({"swollen_joints": {"min": 10, "max": 6}}, "population.swollen_joints.min", "10", "must not exceed max (6 joints)"),
    ({"prior_therapy": ["infliximabb"]}, "population.prior_therapy[0]", "'infliximabb'", "methotrexate"),
    ({"prior_therapy": ["methotrexate", "methotrexate"]}, "population.prior_therapy[1]", "'methotrexate'", "distinct"),
    ({"age": {"max": 120}}, "population.age.max", "120", "between 0 and 100 years"),
    ({"disease_duration_years": {"mean": -2}}, "population.disease_duration_years.mean", "-2", "between 0 and 60 years"),
    ({"female_fraction": 1.5}, "population.female_fraction", "1.5", "between 0 and 1"),
])
def test_population_fields_are_validated_with_one_line_errors(population, field, value, allowed):
    with pytest.raises(ScenarioError) as err:
        scenario(population)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("ra.toml") and field in msg and value in msg and allowed in msg, msg


def test_population_defaults_and_arm_drugs():
    spec = scenario()
    pop = spec.population
    assert (pop.age.mean, pop.age.min, pop.age.max) == (55.0, 18.0, 75.0)
    assert pop.das28.bounds() == (3.2, 10.0)
    assert pop.prior_therapy == ("methotrexate",)
    with pytest.raises(ScenarioError, match=r"arms\[0\]\.drugs\[0\] = 'natalizumab'.*rheumatoid_arthritis drugs"):
        scenario(arms=[{"name": "x", "therapy": "conventional", "drugs": ["natalizumab"]}])


def test_das28_formula_and_acr_definition():
    """DAS28-CRP = 0.56 sqrt(TJC) + 0.28 sqrt(SJC) + 0.36 ln(CRP + 1) + 0.014 PGA + 0.96 (Wells et al. 2009);
    ACR20 needs 20% improvement in both joint counts and in 3 of 5 core measures (Felson et al. 1995)."""
    assert das28_crp(0, 0, 0, 0) == pytest.approx(0.96)
    assert das28_crp(16, 9, 19, 50) == pytest.approx(0.56 * 4 + 0.28 * 3 + 0.36 * math.log(20) + 0.7 + 0.96)
    base = {"tjc": np.array([10.0, 10]), "sjc": np.array([10.0, 10]), "pga": np.array([50.0, 50]),
            "phys": np.array([50.0, 50]), "pain": np.array([50.0, 50]), "haq": np.array([1.5, 1.5]),
            "crp": np.array([20.0, 20])}
    now = {"tjc": np.array([[8.0], [8.0]]), "sjc": np.array([[8.0], [9.0]]), "pga": np.array([[40.0], [40.0]]),
           "phys": np.array([[40.0], [40.0]]), "pain": np.array([[45.0], [40.0]]), "haq": np.array([[1.5], [1.0]]),
           "crp": np.array([[10.0], [10.0]])}
    assert acr_response(now, base, 20)[:, 0].tolist() == [True, False]  # 2nd: swollen joints improved only 10%
    assert not acr_response(now, base, 50).any()


# --- (b) stylized facts ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def untreated():
    """Active RA off therapy (no prior drugs), DAS28 >= 3.2: candidates burned in from onset."""
    spec = scenario({"prior_therapy": [], "disease_duration_years": {"mean": 6, "sd": 4, "max": 15}})
    c = burn_in(MODEL, spec, np.arange(500), SolverOptions())
    return c.take(np.flatnonzero(eligible(c, spec))[:250])


def follow(c, schedule, years):
    t = output_grid(years * YEAR)
    tr = simulate(MODEL, c.y, c.params, schedule, t)
    assert np.all(tr.status == 0)
    return t, tr


def at(t, x, day):
    return x[:, np.searchsorted(t, day - 1e-6)]


def test_untreated_active_ra_is_stable_and_damages_joints(untreated):
    """Untreated active RA persists (DAS28 >= 3.2 selected) and radiographic damage progresses about 2-10 mTSS
    units a year without effective therapy (MTX arm of early aggressive RA 5.7/year, PREMIER, Breedveld et al.
    2006 Arthritis Rheum 54:26; placebo + MTX in established RA 2.7/year, DE019, Keystone et al. 2004)."""
    c = untreated
    assert len(c.candidate) >= 150
    assert np.all(c.covariates["das28_baseline"] >= 3.2)
    t, tr = follow(c, ScheduleBuilder(MODEL).build(), 2.0)
    drev = tr["drev"]
    assert np.median(at(t, drev, 2 * YEAR) / np.maximum(drev[:, 0], 1e-9)) == pytest.approx(1.0, abs=0.1)
    progression = np.mean(at(t, tr["dirr"], 2 * YEAR) - tr["dirr"][:, 0]) / 2.0
    assert 1.5 <= progression <= 10.0, progression


def test_active_ra_has_raised_esr_and_mostly_positive_rheumatoid_factor(on_mtx):
    """At entry of active-RA trials on background methotrexate: ESR about 30-45 mm/h; rheumatoid factor positive
    (>= 20 IU/mL) in about 70% (pooled sensitivity 69%, Nishimura et al. 2007 Ann Intern Med 146:797); DAS28-ESR
    by Prevoo et al. 1995."""
    cov = on_mtx.covariates
    assert 20 <= np.mean(cov["esr_baseline"]) <= 50
    assert 0.55 <= np.mean(cov["rf_baseline"] >= 20) <= 0.85
    assert das28_esr(16, 9, 30, 50) == pytest.approx(0.56 * 4 + 0.28 * 3 + 0.70 * math.log(30) + 0.7)
    assert np.allclose(cov["das28_esr_baseline"], das28_esr(cov["tjc_baseline"], cov["sjc_baseline"], cov["esr_baseline"],
                                                           cov["pga_baseline"]))


def test_conventional_therapy_works_while_given_and_disease_returns_after_stopping(untreated):
    """Adalimumab + methotrexate removes most synovitis while given (ARMADA: ACR50 55% at week 24, Weinblatt et
    al. 2003 Arthritis Rheum 48:35) and disease activity returns within months of stopping (about half of
    patients in stable low activity flare within a year of stopping TNF inhibitors, POET, Ghiti Moghadam et al.
    2016 Arthritis Rheumatol 68:1810; patients with active refractory disease return to baseline)."""
    from remit.therapies.drugs import add_drugs

    c = untreated
    b = add_drugs(ScheduleBuilder(MODEL), DISEASE.drugs, ["methotrexate", "adalimumab"], 0.0, stop=YEAR)
    t, tr = follow(c, b.build(), 2.0)
    base = tr["drev"][:, 0]
    on = np.median(at(t, tr["drev"], 0.5 * YEAR) / base)
    off = np.median(at(t, tr["drev"], 1.75 * YEAR) / base)
    crp_on = np.median(at(t, tr["infl"], 0.5 * YEAR) / tr["infl"][:, 0])
    assert on <= 0.35, on  # synovitis down by about 2/3 or more while on therapy
    assert crp_on <= 0.6, crp_on  # CRP signal falls with it
    assert off >= 0.8, off  # 9 months after stopping: back near the untreated level


MSC = {"name": "msc", "therapy": "msc", "source": "adipose", "route": "intravenous", "dose_cells_per_kg": 1e6,
       "schedule": {"doses": 3, "interval_days": 7}, "background": ["methotrexate"]}


def _msc_effect(c, arm_changes, years=0.5):
    spec = scenario(arms=[dict(MSC, **arm_changes)])
    t, tr = follow(c, arm_plan(MODEL, spec.arms[0], DISEASE.drugs).schedule, years)
    t0, tr0 = follow(c, arm_plan(MODEL, scenario().arms[0], DISEASE.drugs).schedule, years)
    return lambda day: 1.0 - np.median(at(t, tr["drev"], day) / at(t0, tr0["drev"], day))


@pytest.fixture(scope="module")
def on_mtx():
    """Active RA despite methotrexate (the Cx611 population's background)."""
    spec = scenario({"disease_duration_years": {"mean": 10, "sd": 6, "max": 25}})
    c = burn_in(MODEL, spec, np.arange(400), SolverOptions())
    return c.take(np.flatnonzero(eligible(c, spec))[:150])


def test_msc_effect_is_modest_fades_unless_repeated_and_saturates_with_dose(on_mtx):
    """IV MSC in refractory RA: a modest effect at month 1 that fades by month 3-6 (Cx611: ACR20 45% at month 1,
    25% at month 3 after 1e6/kg on days 1, 8, 15; Alvaro-Gracia et al. 2017 Ann Rheum Dis 76:196), no gain from
    1 to 4e6 cells/kg (month-1 ACR20 45%, 20%, 33%), and kept up only by repeated infusions."""
    once = _msc_effect(on_mtx, {})
    high = _msc_effect(on_mtx, {"dose_cells_per_kg": 4e6})
    repeated = _msc_effect(on_mtx, {"schedule": {"doses": 7, "interval_days": 28}})
    m1, m6 = once(28), once(168)
    assert 0.1 <= m1 <= 0.6, m1  # modest: less than a TNF inhibitor's about 2/3
    assert m6 <= 0.35 * m1, (m1, m6)  # faded within months
    assert high(28) <= 1.5 * m1, (m1, high(28))  # saturates with dose
    assert repeated(168) >= 0.6 * m1, (m1, repeated(168))  # repeated monthly infusions keep it up


def test_ahsct_gives_high_early_response_and_frequent_relapse(untreated):
    """aHSCT in severe RA (EBMT/ABMTR, Snowden et al. 2004 J Rheumatol 31:482): ACR50 at some time in 67% of
    patients, but relapse or persistence of activity in 73% within a median 18 months' follow-up."""
    arm = {"name": "aHSCT", "therapy": "ahsct", "mobilization": {"cyclophosphamide_g_per_m2": 2.0, "g_csf": True},
           "graft": {"source": "peripheral_blood", "cd34_per_kg": 5e6},
           "conditioning": {"regimen": "cy_atg", "cyclophosphamide_mg_per_kg": 200, "atg_mg_per_kg": 0.0}}
    spec = scenario(arms=[arm])
    c = untreated.take(np.arange(120))
    t, tr = follow(c, arm_plan(MODEL, spec.arms[0], DISEASE.drugs).schedule, 2.0)
    ratio = tr["drev"] / tr["drev"][:, :1]
    best = ratio[:, t <= 0.5 * YEAR].min(axis=1)
    late = at(t, ratio, 2.0 * YEAR)
    assert np.mean(best <= 0.5) >= 0.5, np.mean(best <= 0.5)  # high early response
    assert np.mean(late >= 0.5) >= 0.4, np.mean(late >= 0.5)  # activity back in many by 2 years


# --- (c) a small trial end to end --------------------------------------------------------------


def test_small_trial_end_to_end():
    """ARMADA-like: adalimumab + MTX vs placebo + MTX in MTX-inadequate responders (Weinblatt et al. 2003:
    ACR20 at week 24 67% vs 14.5%); scores finite and in range for living patients, NaN after death."""
    spec = scenario({"swollen_joints": {"min": 6}, "tender_joints": {"min": 6}}, n=80, arms=[
        {"name": "ADA+MTX", "therapy": "conventional", "drugs": ["methotrexate", "adalimumab"]},
        {"name": "placebo", "therapy": "placebo", "background": ["methotrexate"]}])
    r = Trial(spec).run(chunk_size=80)
    ep, d = r.endpoints, r.patients
    for name in ("mean_das28", "das28_change", "mean_sjc", "mean_haq", "mean_sharp", "sharp_change", "acr20", "acr50",
                 "acr70", "das28_remission"):
        assert (ep["endpoint"] == name).any(), name
    weeks = set(np.round(ep.loc[ep["endpoint"] == "acr20", "timepoint_years"], 4))
    assert {round(4 * 7 / 365.25, 4), round(24 * 7 / 365.25, 4), 1.0} <= weeks, weeks
    alive = ~d["died"].to_numpy(bool)
    ranges = {"das28": (0.96, 9.5), "sjc": (0, 28), "haq": (0, 3), "sharp": (0, 448)}
    for s, (lo, hi) in ranges.items():
        for k in (0, 1):
            x = r.outcome(s)[float(k)].to_numpy(float)[alive]
            assert np.all(np.isfinite(x)) and x.min() >= lo and x.max() <= hi, (s, k)
    dead = d["died"].to_numpy(bool)
    if dead.any():
        assert np.isnan(r.outcome("das28")[1.0].to_numpy(float)[dead]).all()
    assert np.all(d["das28_baseline"] >= 3.2)
    acr = ep[(ep["endpoint"] == "acr20") & np.isclose(ep["timepoint_years"], 24 * 7 / 365.25)].set_index("arm")["estimate"]
    assert 0.45 <= acr["ADA+MTX"] <= 0.95 and 0.02 <= acr["placebo"] <= 0.35, acr.to_dict()
    sharp = ep[(ep["endpoint"] == "sharp_change") & np.isclose(ep["timepoint_years"], 1.0)].set_index("arm")["estimate"]
    assert sharp["ADA+MTX"] < sharp["placebo"], sharp.to_dict()
    assert r.visits["das28"].notna().any()
