"""Systemic lupus erythematosus: scenario validation, stylized facts with literature ranges, a small trial."""

import numpy as np
import pytest

from remit.diseases.lupus.clinical import LUPUS_DRUGS, activity, complement_c3, observe_visits
from remit.engine.integrate import SolverOptions, simulate
from remit.diseases import build_model
from remit.population import YEAR, burn_in, eligible
from remit.random import TRIAL, patient_keys
from remit.scenario import ScenarioError, parse_scenario
from remit.therapies import arm_plan
from remit.therapies.drugs import add_drugs
from remit.therapies.schedule import ScheduleBuilder
from remit.trial import Trial

MODEL = build_model("lupus")
BACKGROUND = ["prednisone", "mycophenolate"]
AHSCT = {"name": "aHSCT", "therapy": "ahsct", "mobilization": {"cyclophosphamide_g_per_m2": 2.0, "g_csf": True},
         "graft": {"source": "peripheral_blood", "cd34_per_kg": 5e6, "cd34_selection": True},
         "conditioning": {"regimen": "cy_atg", "cyclophosphamide_mg_per_kg": 200, "atg_mg_per_kg": 6.0}}
MSC = {"name": "MSC", "therapy": "msc", "source": "umbilical_cord", "dose_cells_per_kg": 1e6, "route": "intravenous",
       "schedule": {"doses": 2, "interval_days": 7}, "background": BACKGROUND}
PLACEBO = {"name": "Background", "therapy": "placebo", "background": BACKGROUND}


def data(population=None, arms=None, follow_up=5, n=10):
    pop = {"sledai": {"mean": 13, "sd": 5, "min": 8}, "prior_therapy": BACKGROUND, "nephritis_fraction": 0.7,
           "age": {"mean": 30, "sd": 9, "min": 16, "max": 60},
           "disease_duration_years": {"mean": 5, "sd": 3, "min": 0.5, "max": 12}}
    pop.update(population or {})
    return {"trial": {"name": "t", "disease": "lupus", "seed": 7, "follow_up_years": follow_up, "patients_per_arm": n},
            "population": pop, "arms": arms or [AHSCT, PLACEBO]}


# --- (a) scenario validation -------------------------------------------------------------


@pytest.mark.parametrize("population,path,fragment", [
    ({"sledai": {"mean": 120}}, "population.sledai.mean = 120", "between 0 and 105 SLEDAI-2K points"),
    ({"sledai": {"min": 12, "max": 8}}, "population.sledai.min = 12", "must not exceed max"),
    ({"sledai": {"sd": 0}}, "population.sledai.sd = 0", "SLEDAI-2K points"),
    ({"nephritis_fraction": 1.5}, "population.nephritis_fraction = 1.5", "between 0 and 1"),
    ({"proteinuria_g_per_day": {"min": -1}}, "population.proteinuria_g_per_day.min = -1", "between 0 and 30 g/day"),
    ({"proteinuria_g_per_day": {"min": 3.0, "max": 1.0}}, "population.proteinuria_g_per_day.min = 3.0", "must not exceed max (1 g/day)"),
    ({"prior_therapy": ["natalizumab"]}, "population.prior_therapy[0] = 'natalizumab'", "the lupus drugs"),
    ({"female_fraction": 2}, "population.female_fraction = 2", "between 0 and 1"),
    ({"flares": 2}, "population.flares", "unknown key"),
])
def test_bad_population_values_give_one_line_errors(population, path, fragment):
    """Every bad [population] value is reported on one line naming file, field, value and allowed range."""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data(population), "sle.toml")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("sle.toml: ")
    assert path in msg and fragment in msg, msg


def test_good_population_and_drugs_parse():
    spec = parse_scenario(data({"proteinuria_g_per_day": {"min": 0.5}}, arms=[MSC, PLACEBO,
                               {"name": "NIH CYC", "therapy": "conventional", "drugs": ["cyclophosphamide_iv", "prednisone"],
                                "stop_year": 0.5}]))
    assert spec.population.sledai.bounds() == (8.0, 105.0)
    assert spec.population.proteinuria_g_per_day.min == 0.5
    assert spec.trial.control_arm == "NIH CYC"
    with pytest.raises(ScenarioError, match=r"arms\[1\]\.background\[0\] = 'interferon_beta'"):
        parse_scenario(data(arms=[MSC, {**PLACEBO, "background": ["interferon_beta"]}]))


# --- (b) stylized facts --------------------------------------------------------------------


@pytest.fixture(scope="module")
def refractory():
    """Active SLE (SLEDAI-2K >= 8) despite prednisone + mycophenolate, most with nephritis."""
    spec = parse_scenario(data())
    c = burn_in(MODEL, spec, np.arange(500), SolverOptions())
    c = c.take(np.flatnonzero(eligible(c, spec) & (c.covariates["sledai_baseline"] >= 8)))
    assert len(c) > 60
    return spec, c


T = np.unique(np.concatenate([np.arange(0.0, 5 * YEAR, 7.0), np.arange(6) * YEAR, [30.0, 270.0]]))


def follow(c, schedule, years=5.0):
    t = T[T <= years * YEAR + 1e-9]
    tr = simulate(MODEL, c.y, c.params, schedule, t)
    assert np.all(tr.status == 0)
    return t, tr


def at(t, x, day):
    return x[:, min(int(np.searchsorted(t, day - 1e-6)), len(t) - 1)]


def background(stop=None):
    return add_drugs(ScheduleBuilder(MODEL), LUPUS_DRUGS, BACKGROUND, 0.0, stop)


def test_untreated_active_lupus_nephritis_looks_like_induction_trial_baselines(refractory):
    """Off therapy, active lupus nephritis has nephrotic-range-ish proteinuria, positive anti-dsDNA and
    low C3 and SLEDAI-2K well above 10 (ALMS baseline: urine protein/creatinine about 4 g/g, Appel et al.
    2009 J Am Soc Nephrol 20:1103; Liang et al. 2010 Ann Rheum Dis 69:1423: proteinuria 2.5 g/day,
    SLEDAI 12.2 at baseline of refractory SLE)."""
    spec, c = refractory
    t, tr = follow(c, ScheduleBuilder(MODEL).build(), years=2)
    neph = c.covariates["nephritis"] > 0.5
    keys = patient_keys(7, TRIAL, c.candidate)
    p = {n: c.params[:, j] for j, n in enumerate(MODEL.parameter_names)}
    end = lambda s: tr[s][:, -1:]  # noqa: E731
    obs = observe_visits(end("sys"), end("drev"), end("dirr"), end("autoab"), p, c.carry["item_propensity"], keys, np.array([9]))
    prot = np.median(obs["proteinuria"][neph, 0])
    assert 1.5 <= prot <= 6.0, prot
    assert np.median(obs["anti_dsdna"][:, 0]) > 60
    assert np.median(obs["c3"][:, 0]) < 0.9
    assert 12 <= np.mean(obs["sledai"][neph, 0]) <= 30, np.mean(obs["sledai"][neph, 0])


def test_conventional_therapy_works_while_given_and_disease_returns_after_stopping(refractory):
    """Induction immunosuppression controls activity only while given: after stopping, lupus flares
    (Canadian Hydroxychloroquine Study Group 1991 NEJM 324:150: flare risk 2.5-fold after withdrawal;
    renal flares after induction without maintenance are common, MAINTAIN, Houssiau et al. 2010 Ann Rheum
    Dis 69:2083)."""
    spec, c = refractory
    t, none = follow(c, ScheduleBuilder(MODEL).build(), years=3)
    _, on = follow(c, background().build(), years=3)
    _, stop = follow(c, background(stop=YEAR).build(), years=3)
    act = lambda tr, d: float(np.mean(at(t, activity(tr["sys"], tr["drev"]), d)))  # noqa: E731
    assert act(on, YEAR) < 0.5 * act(none, YEAR), (act(on, YEAR), act(none, YEAR))
    assert act(stop, 3 * YEAR) > 0.75 * act(none, 3 * YEAR), (act(stop, 3 * YEAR), act(none, 3 * YEAR))
    assert act(stop, 3 * YEAR) > 2.0 * act(on, 3 * YEAR)


@pytest.fixture(scope="module")
def transplanted(refractory):
    spec, c = refractory
    plan = arm_plan(MODEL, parse_scenario(data(arms=[AHSCT])).arms[0], LUPUS_DRUGS)
    return (c, *follow(c, plan.schedule, years=5))


def test_ahsct_gives_about_half_of_patients_five_disease_free_years(transplanted):
    """aHSCT in refractory SLE: disease-free survival about 50% at 5 years (Burt et al. 2006 JAMA 295:527,
    sle-burt-2006-unverified); range 30-75% accepted. Disease-free: organ activity below a tenth of
    untreated active disease at every yearly look from 1 to 5 years."""
    c, t, tr = transplanted
    a = activity(tr["sys"], tr["drev"])
    quiet = np.all(np.stack([at(t, a, k * YEAR) < 0.1 for k in range(1, 6)]), axis=0)
    assert 0.30 <= quiet.mean() <= 0.75, quiet.mean()
    # most remit first (92% in remission at 6 months in the validation cohort sle-burt-2018-5y; the model's
    # proteinuria resolves over months, so a looser bound)
    assert np.mean(at(t, a, 0.5 * YEAR) < 0.1) > 0.6


def test_autoantibody_lags_because_plasma_cells_are_long_lived_and_then_normalises(transplanted):
    """After aHSCT, clinical activity falls within weeks while anti-dsDNA falls over months to years
    (long-lived plasma cells resist conditioning); anti-dsDNA and complement then normalise (Alexander
    et al. 2009 Blood 113:214: anti-dsDNA disappeared; Burt et al. 2006 JAMA 295:527)."""
    c, t, tr = transplanted
    a, ab = activity(tr["sys"], tr["drev"]), tr["autoab"]
    act_drop = 1 - np.median(at(t, a, 0.25 * YEAR) / at(t, a, 0))
    ab_drop = 1 - np.median(at(t, ab, 0.25 * YEAR) / at(t, ab, 0))
    assert act_drop > 0.6 and ab_drop < 0.5, (act_drop, ab_drop)
    p = {n: c.params[:, j] for j, n in enumerate(MODEL.parameter_names)}
    keys = patient_keys(7, TRIAL, c.candidate)
    c3_3y = complement_c3(at(t, ab, 3 * YEAR)[:, None], p, keys, np.array([12]))[:, 0]
    remitted = at(t, a, 3 * YEAR) < 0.1
    assert np.median(at(t, ab, 3 * YEAR)[remitted]) < 0.3 * np.median(at(t, ab, 0))
    assert np.median(c3_3y[remitted]) > 0.9  # C3 back above its lower limit of normal


def test_msc_effect_fades_within_months_unless_repeated(refractory):
    """Umbilical cord MSC (1e6/kg IV, days 0 and 7) lower SLEDAI by 3 months, with relapses from 9 months
    (Wang et al. 2014 Arthritis Res Ther 16:R79); the effect fades within months unless repeated (DESIGN.md
    section 3; Cx611 in RA: Alvaro-Gracia et al. 2017 Ann Rheum Dis 76:196)."""
    from remit.therapies.msc.plan import msc_plan

    spec, c = refractory
    arm = parse_scenario(data(arms=[MSC])).arms[0]
    rep = parse_scenario(data(arms=[{**MSC, "schedule": {"doses": 5, "interval_days": 60}}])).arms[0]
    t, bg = follow(c, background().build(), years=1)
    _, once = follow(c, msc_plan(MODEL, arm).schedule.merged(background().build()), years=1)
    _, again = follow(c, msc_plan(MODEL, rep).schedule.merged(background().build()), years=1)
    rel = lambda tr, d: float(np.mean(at(t, activity(tr["sys"], tr["drev"]), d)) / np.mean(at(t, activity(bg["sys"], bg["drev"]), d)))  # noqa: E731
    assert rel(once, 30) < 0.85, rel(once, 30)
    assert rel(once, 270) > 0.9, rel(once, 270)  # mostly gone by 9 months
    assert rel(again, 270) < 0.85, rel(again, 270)


# --- (c) a small end-to-end trial ------------------------------------------------------------


def test_small_trial_runs_and_scores_stay_in_range():
    spec = parse_scenario(data(arms=[MSC, PLACEBO], follow_up=1, n=60))
    res = Trial(spec).run(chunk_size=120)
    pts, ep = res.patients, res.endpoints
    assert len(pts) == 120 and set(pts["arm"]) == {"MSC", "Background"}
    for name in ("mean_sledai", "mean_proteinuria", "mean_anti_dsdna", "mean_c3", "major_response", "partial_response",
                 "remission", "disease_free_free", "annualized_renal_flare_rate", "renal_flare_rate_ratio"):
        assert name in set(ep["endpoint"]), name
    alive = ~pts["died"].to_numpy(bool)
    for col, lo, hi in (("sledai", 0, 105), ("proteinuria", 0, 30), ("anti_dsdna", 0, 5000), ("c3", 0, 3)):
        x = res.outcome(col)[1.0].to_numpy(float)[alive]
        assert np.all(np.isfinite(x)) and np.all((x >= lo) & (x <= hi)), col
    assert np.all(pts["sledai_baseline"] >= 8)
    early = (pts["died"] & (pts["death_time_years"] < 1)).to_numpy()
    assert np.all(np.isnan(res.outcome("sledai")[1.0].to_numpy(float)[early]))
    assert (pts["solver_status"] == 0).all()


def test_renal_responses_are_read_from_proteinuria_at_each_visit():
    """Complete renal response: proteinuria < 0.5 g/day; partial: at least halved and < 3.5 g/day without a
    complete one; both only for patients with proteinuria >= 0.5 g/day at baseline (Fanouriakis et al. 2020)."""
    spec = parse_scenario(data(arms=[MSC, PLACEBO], follow_up=1, n=60))
    res = Trial(spec).run(chunk_size=120)
    prot, crr, prr = (res.outcome(n) for n in ("proteinuria", "complete_renal_response", "partial_renal_response"))
    base = prot[0.0].to_numpy()
    assert list(crr.columns) == list(prr.columns) == [t for t in prot.columns if t > 0]
    for t in crr.columns:
        p, c, q = prot[t].to_numpy(), crr[t].to_numpy(), prr[t].to_numpy()
        assessed = np.isfinite(p) & (base >= 0.5)
        assert np.array_equal(np.isfinite(c), assessed) and np.array_equal(np.isfinite(q), assessed)
        assert np.array_equal(c[assessed] == 1, p[assessed] < 0.5)
        assert np.array_equal(q[assessed] == 1, (p[assessed] >= 0.5) & (p[assessed] <= 0.5 * base[assessed])
                              & (p[assessed] < 3.5))
    assert assessed.sum() > 30


def test_serum_albumin_falls_with_proteinuria_to_nephrotic_levels():
    """Nephrotic syndrome: proteinuria > 3.5 g/day with serum albumin < 30 g/L (KDIGO 2021); normal 35-50 g/L."""
    from remit.diseases.lupus.clinical import serum_albumin

    n = 4000
    p = {q.name: np.full(n, q.value) for q in MODEL.parameters}
    keys = patient_keys(1, TRIAL, np.arange(n))
    ids = np.array([1])
    healthy = serum_albumin(np.zeros((n, 1)), np.zeros((n, 1)), p, keys, ids)
    nephrotic = serum_albumin(np.full((n, 1), 5.0), np.zeros((n, 1)), p, keys, ids)
    assert 38 <= np.mean(healthy) <= 46 and np.mean(nephrotic) < 30
    assert np.all(nephrotic > 5) and np.std(healthy) == pytest.approx(2.0, rel=0.1)
