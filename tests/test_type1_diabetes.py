"""Type 1 diabetes: scenario validation, stylized facts with their literature ranges, a small trial."""

import numpy as np
import pytest

from remit.diseases.type1_diabetes.clinical import DISEASE, c_peptide, function_of, insulin_free_track
from remit.engine.integrate import SolverOptions, simulate
from remit.diseases import build_model
from remit.population import YEAR, burn_in, eligible
from remit.scenario import ScenarioError, load_scenario, parse_scenario
from remit.therapies import arm_plan
from remit.therapies.schedule import ScheduleBuilder
from remit.trial import Trial, output_grid

MODEL = build_model("type1_diabetes")
EXAMPLE = "examples/t1d_voltarelli.toml"

AHSCT = {"name": "aHSCT", "therapy": "ahsct", "mobilization": {"cyclophosphamide_g_per_m2": 2.0, "g_csf": True},
         "graft": {"source": "peripheral_blood", "cd34_per_kg": 5e6},
         "conditioning": {"regimen": "cy_atg", "cyclophosphamide_mg_per_kg": 200, "atg_mg_per_kg": 4.5}}
INSULIN = {"name": "Insulin", "therapy": "conventional", "drugs": ["insulin"]}


def scenario(population=None, arms=None, follow_up=3, n=10):
    return parse_scenario({
        "trial": {"name": "t1d", "disease": "type1_diabetes", "seed": 5, "follow_up_years": follow_up, "patients_per_arm": n},
        "population": population if population is not None else {"age": {"mean": 19, "sd": 5, "min": 14, "max": 31}, "exclude_dka_at_diagnosis": True},
        "arms": arms or [AHSCT, INSULIN],
    }, "t1d.toml")


# --------------------------------------------------------------------------
# (a) scenario validation
# --------------------------------------------------------------------------

@pytest.mark.parametrize("population,expected", [
    ({"c_peptide": {"mean": 7.0}}, "t1d.toml: population.c_peptide.mean = 7.0: must be between 0 and 5 nmol/L"),
    ({"c_peptide": {"min": -0.1}}, "t1d.toml: population.c_peptide.min = -0.1: must be between 0 and 5 nmol/L"),
    ({"c_peptide": {"min": 1.0, "max": 0.5}}, "t1d.toml: population.c_peptide.min = 1.0: must not exceed max (0.5 nmol/L)"),
    ({"c_peptide": {"sd": 0}}, "t1d.toml: population.c_peptide.sd = 0: must be between 0 (exclusive) and 5 nmol/L"),
    ({"age": {"max": 120}}, "t1d.toml: population.age.max = 120: must be between 0 and 100 years"),
    ({"disease_duration_years": {"mean": -0.1}},
     "t1d.toml: population.disease_duration_years.mean = -0.1: must be between 0 and 60 years"),
    ({"female_fraction": 1.5}, "t1d.toml: population.female_fraction = 1.5: must be between 0 and 1"),
    ({"gad_positive": "yes"}, "t1d.toml: population.gad_positive: expected true or false, got string 'yes'"),
    ({"exclude_dka_at_diagnosis": 1}, "t1d.toml: population.exclude_dka_at_diagnosis: expected true or false, got integer 1"),
    ({"prior_therapy": ["metformin"]},
     "t1d.toml: population.prior_therapy[0] = 'metformin': must be one of insulin (the type1_diabetes drugs)"),
    ({"edss": {"mean": 3}}, "t1d.toml: population.edss: unknown key (allowed: "),
])
def test_population_fields_are_validated_with_one_line_errors(population, expected):
    with pytest.raises(ScenarioError) as info:
        scenario(population)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(expected), msg


def test_arm_drugs_must_be_type1_diabetes_drugs():
    with pytest.raises(ScenarioError, match=r"arms\[1\]\.drugs\[0\] = 'natalizumab': must be one of insulin"):
        scenario(arms=[AHSCT, {"name": "DMT", "therapy": "conventional", "drugs": ["natalizumab"]}])


def test_defaults_and_example_load():
    spec = scenario({})
    pop = spec.population
    assert pop.age.mean == 22 and pop.age.min == 12 and pop.age.max == 35
    assert pop.disease_duration_years.max == 0.12 and pop.c_peptide.min == 0.2
    assert pop.gad_positive and not pop.exclude_dka_at_diagnosis and pop.prior_therapy == ("insulin",)
    ex = load_scenario(EXAMPLE)
    assert ex.trial.control_arm == "Insulin" and ex.population.exclude_dka_at_diagnosis


# --------------------------------------------------------------------------
# (b) stylized facts
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cohort():
    spec = scenario()
    c = burn_in(MODEL, spec, np.arange(5000), SolverOptions())  # about 700 eligible: sampling error small beside the margins
    ok = eligible(c, spec) & (c.covariates["c_peptide_baseline"] >= 0.2)
    return spec, c.take(np.flatnonzero(ok))


def follow(c, schedule, years):
    t = output_grid(years * YEAR)
    tr = simulate(MODEL, c.y, c.params, schedule, t)
    p = {n: c.params[:, j] for j, n in enumerate(MODEL.parameter_names)}
    f = function_of(tr["beta"], tr["drev"], p)
    return t, tr, f, insulin_free_track(f, p), p


@pytest.fixture(scope="module")
def insulin_alone(cohort):
    spec, c = cohort
    return follow(c, arm_plan(MODEL, spec.arms[1], DISEASE.drugs).schedule, 3)


@pytest.fixture(scope="module")
def early_ahsct(cohort):
    spec, c = cohort
    return follow(c, arm_plan(MODEL, spec.arms[0], DISEASE.drugs).schedule, 3)


def at(t, years):
    return int(np.searchsorted(t, years * YEAR - 1e-6))


def test_new_onset_cohort_has_20_to_40_percent_function(cohort):
    """At diagnosis about 20-40% of beta-cell function remains (brief; Klinke 2008 PLoS One 3:e1374); new-onset
    cohorts have a mean MMTT C-peptide AUC of about 0.6-0.8 nmol/L (Greenbaum et al. 2012 Diabetes 61:2066),
    a honeymoon insulin dose below 0.5 IU/kg/day, and 70-80% are GAD65-antibody positive."""
    spec, c = cohort
    cov = c.covariates
    assert 0.18 <= np.mean(cov["beta_function_baseline"]) <= 0.40
    assert 0.4 <= np.mean(cov["c_peptide_baseline"]) <= 0.9
    assert 0.15 <= np.mean(cov["insulin_dose_baseline"]) <= 0.5
    assert 7.0 <= np.mean(cov["hba1c_baseline"]) <= 10.5
    assert cov["gad_positive"].all() and not cov["dka_at_diagnosis"].any()
    # all screened candidates: the GAD65-positive fraction
    all_c = burn_in(MODEL, spec, np.arange(300), SolverOptions())
    assert 0.65 <= all_c.covariates["gad_positive"].mean() <= 0.85


def test_beta_cell_function_declines_over_the_first_years_on_insulin_alone(insulin_alone):
    """Without immune therapy the honeymoon ends: stimulated C-peptide falls by about 30-50% in the first year and
    keeps falling (placebo/control arms of TrialNet new-onset trials, Greenbaum et al. 2012 Diabetes 61:2066);
    complete (insulin-free) remission on insulin alone is rare."""
    t, tr, f, free, p = insulin_alone
    cp = f * p["cpep_normal"][:, None]
    m0, m1, m2, m3 = (np.mean(cp[:, at(t, y)]) for y in (0, 1, 2, 3))
    assert 0.50 <= m1 / m0 <= 0.75, m1 / m0
    assert 0.30 <= m2 / m0 <= 0.60, m2 / m0
    assert m3 < m2 < m1
    assert free.any(axis=1).mean() < 0.05


def test_insulin_has_no_effect_on_the_autoimmune_attack(cohort, insulin_alone):
    """Insulin replaces the hormone but leaves the autoimmune attack as it is (DCCT 1993 NEJM 329:977:
    intensive therapy, no immune effect): autoreactive T cells, insulitis and beta-cell loss are identical
    with and without it."""
    spec, c = cohort
    t, tr, f, free, p = insulin_alone
    _, tr0, f0, _, _ = follow(c, ScheduleBuilder(MODEL).build(), 3)
    for s in ("teff", "drev", "beta"):
        assert np.allclose(tr[s], tr0[s], rtol=1e-6, atol=1e-9), s


def test_early_ahsct_gives_insulin_independence_in_most_with_relapse_over_time(early_ahsct, insulin_alone):
    """aHSCT within weeks of diagnosis: 14 of 15 became insulin-free (Voltarelli et al. 2007 JAMA 297:1568), 20 of 23
    (Couri et al. 2009 JAMA 301:1573), 59% within 6 months in a pooled cohort (t1d-daddio-2014-pooled); insulin
    independence lasts months to years but some relapse: 8 of 20 resumed insulin within about 2.5 years (Couri 2009),
    32% insulin-free at 48 months (D'Addio 2014). C-peptide rose above its pre-transplant level at 24 months (Couri 2009)."""
    t, tr, f, free, p = early_ahsct
    ever_1y = free[:, :at(t, 1) + 1].any(axis=1)
    assert 0.70 <= ever_1y.mean() <= 1.0, ever_1y.mean()
    on = np.argmax(free, axis=1)
    resumed = ever_1y & ((np.arange(len(t))[None, :] > on[:, None]) & ~free).any(axis=1)
    frac = resumed[ever_1y].mean()
    assert 0.15 <= frac <= 0.6, frac
    assert 0.35 <= free[:, at(t, 3)].mean() <= 0.8
    cp = f * p["cpep_normal"][:, None]
    # the rise itself (the published fold change is larger than the model's, about 1.3x at 2 years: a known miss,
    # measured in the issue "Models that generalise"; a threshold at the model's own value tested only sampling luck)
    assert np.mean(cp[:, at(t, 2)]) > np.mean(cp[:, 0])
    _, _, f_ins, _, _ = insulin_alone
    assert np.mean(f[:, at(t, 2)]) > 2 * np.mean(f_ins[:, at(t, 2)])


def test_later_intervention_gives_less_benefit(cohort, early_ahsct):
    """Residual beta-cell mass is what immune ablation can rescue: aHSCT late after diagnosis gives less insulin
    independence (remission falls with disease duration and with ketoacidosis at diagnosis, a marker of less
    residual function: Gu et al. 2012, t1d-gu-dka; Voltarelli 2007 enrolled within 6 weeks for that reason)."""
    spec, c = cohort
    late = arm_plan(MODEL, spec.arms[0], DISEASE.drugs).schedule.shifted(2 * YEAR)
    t, tr, f, free, p = follow(c, late, 4)
    late_ever = free[:, at(t, 2):at(t, 3) + 1].any(axis=1).mean()
    te, _, _, free_e, _ = early_ahsct
    early_ever = free_e[:, :at(te, 1) + 1].any(axis=1).mean()
    assert late_ever < early_ever - 0.3, (early_ever, late_ever)


def test_c_peptide_measurement_noise_is_unbiased():
    """Stimulated C-peptide is proportional to beta-cell function with about 10% test variability (Greenbaum et al.
    2008 Diabetes Care 31:1966)."""
    rng = np.random.default_rng(0)
    n = 20000
    p = {"cpep_normal": np.full(n, 2.4), "cpep_cv": np.full(n, 0.1)}
    x = c_peptide(np.full(n, 0.25), p, rng.uniform(size=n))
    assert abs(x.mean() - 0.6) < 0.01 and 0.08 <= x.std() / x.mean() <= 0.12


# --------------------------------------------------------------------------
# (c) a small trial end to end
# --------------------------------------------------------------------------

def test_small_trial_end_to_end():
    spec = load_scenario(EXAMPLE).with_overrides(patients_per_arm=60)
    data = spec.model_dump(mode="python")
    data["trial"]["follow_up_years"] = 2
    spec = parse_scenario(data)
    r = Trial(spec, EXAMPLE).run(chunk_size=256)
    ep, pats = r.endpoints, r.patients
    assert len(pats) == 120 and (pats["solver_status"] == 0).all()
    for name in ("insulin_relapse_free", "insulin_independent", "ever_insulin_independent", "mean_c_peptide",
                 "c_peptide_change", "mean_insulin_dose", "mean_hba1c", "mean_gad65", "annualized_severe_hypoglycaemia_rate",
                 "severe_hypoglycaemia_rate_ratio", "treatment_related_mortality"):
        assert name in set(ep["endpoint"]), name
    alive = ~pats["died"].to_numpy(bool)
    for k in range(0, 3):
        cp, dose, a1c = (r.outcome(s)[float(k)].to_numpy(float)[alive] for s in ("c_peptide", "insulin_dose", "hba1c"))
        assert np.isfinite(cp).all() and (cp >= 0).all() and (cp < 5).all()
        assert np.isfinite(dose).all() and (dose >= 0).all() and (dose < 2).all()
        assert np.isfinite(a1c).all() and (a1c >= 4).all() and (a1c <= 20).all()
    dead = pats["died"].to_numpy(bool) & (pats["death_time_years"].to_numpy(float) < 1)
    assert np.isnan(r.outcome("c_peptide")[1.0].to_numpy(float)[dead]).all()
    ind = ep[(ep.endpoint == "insulin_independent") & (ep.timepoint_years == 1)].set_index("arm")["estimate"]
    assert ind["aHSCT"] > ind["Insulin"] + 0.3
    free_t = pats["insulin_free_years"].to_numpy(float)
    assert (np.isnan(free_t) == ~pats["became_insulin_free"].to_numpy(bool)).all()
    assert (free_t[np.isfinite(free_t)] >= 0).all()
    # the longest insulin-free period: never decreasing, at most the total insulin-free time, and the
    # whole first episode for a patient who never resumed insulin
    longest = r.outcome("insulin_free_longest")
    alive2 = alive & ~(pats["died"].to_numpy(bool))
    lo = longest.to_numpy(float)[alive2]
    assert (np.diff(lo, axis=1) >= -1e-12).all() and (lo[:, 0] == 0).all()
    end = longest[2.0].to_numpy(float)
    total = pats["insulin_free_total_years"].to_numpy(float)
    assert (end[alive2] <= total[alive2] + 1e-9).all()
    kept = alive2 & pats["became_insulin_free"].to_numpy(bool) & ~pats["insulin_resumed"].to_numpy(bool)
    assert kept.any() and np.allclose(end[kept], free_t[kept], atol=0.01)
    assert ep.query("endpoint == 'mean_insulin_free_longest' and timepoint_years == 2").set_index("arm")[
        "estimate"]["aHSCT"] > 0.5
