"""Endpoint computation on synthetic data with known generating parameters."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from remit.diseases import get_disease
from remit.endpoints import (
    BASELINE_COLUMNS,
    ENDPOINT_COLUMNS,
    SHARED,
    Records,
    Survival,
    baseline_table,
    compute_endpoints,
    km_fitters,
    median_order_statistic_ci,
)
from remit.endpoints import rate as rate_kind
from synthetic import REQUESTED_BASELINE, ArmParams, TrialParams, make_outcomes, make_patients, make_records

FU = 5.0
MS = get_disease("multiple_sclerosis")
MS_ENDPOINTS = MS.endpoints
OUTCOMES = make_outcomes()
TRUE_HR = 0.05 / 0.20  # aHSCT vs DMT progression hazards in TrialParams()
TRUE_ARR = {"aHSCT": 0.15, "DMT": 0.60}


@pytest.fixture(scope="module")
def patients() -> pd.DataFrame:
    return make_patients()


def endpoints_of(patients: pd.DataFrame, control: str = "DMT", fu: float = FU, outcomes=None) -> pd.DataFrame:
    return compute_endpoints(Records(patients, OUTCOMES if outcomes is None else outcomes, fu, control), MS_ENDPOINTS)


def visit_values(patients: pd.DataFrame, name: str, t: float) -> pd.Series:
    """Outcome ``name`` at ``t`` years of ``patients`` (one value per patient, in their order)."""
    return Records(patients, OUTCOMES).outcome(name)[float(t)]


@pytest.fixture(scope="module")
def result(patients) -> pd.DataFrame:
    return endpoints_of(patients)


def one(df: pd.DataFrame, arm: str, endpoint: str, t: float | None = None) -> pd.Series:
    d = df[(df["arm"] == arm) & (df["endpoint"] == endpoint)]
    if t is not None:
        d = d[np.isclose(d["timepoint_years"], t)]
    assert len(d) == 1, f"expected one row for {arm}/{endpoint}/{t}, got {len(d)}"
    return d.iloc[0]


# --------------------------------------------------------------------------
# shape and contract
# --------------------------------------------------------------------------


def test_columns_exact_and_float(result):
    assert list(result.columns) == ENDPOINT_COLUMNS
    assert list(result.columns) == ["arm", "endpoint", "timepoint_years", "estimate", "ci_low", "ci_high", "n"]
    for c in ENDPOINT_COLUMNS[2:]:
        assert result[c].dtype == np.float64, c
    # every endpoint of the catalog, except the CAR-T rows, which only a trial with a CAR-T arm has
    assert set(result["endpoint"]) == {n for e in (*MS_ENDPOINTS, *SHARED) if e.name != "car_t_toxicity"
                                       for n in e.names()}
    assert not result.duplicated(["arm", "endpoint", "timepoint_years"]).any()


def test_rows_per_timepoint(result):
    years = sorted(result.loc[(result.arm == "DMT") & (result.endpoint == "progression_free"), "timepoint_years"])
    assert years == [1, 2, 3, 4, 5]
    assert sorted(result.loc[(result.arm == "DMT") & (result.endpoint == "mean_edss"), "timepoint_years"]) == [
        0, 1, 2, 3, 4, 5,
    ]
    # mortality at day 100 (treatment-related) and at every visit (here the whole years: no visits given)
    trm = result.loc[(result.arm == "aHSCT") & (result.endpoint == "treatment_related_mortality"), "timepoint_years"]
    assert np.allclose(sorted(trm), [100 / 365.25, 1, 2, 3, 4, 5])
    acm = result.loc[(result.arm == "aHSCT") & (result.endpoint == "all_cause_mortality"), "timepoint_years"]
    assert np.allclose(sorted(acm), [1, 2, 3, 4, 5])
    # CD4+ at every visit of its outcome rows
    cd4 = result.loc[(result.arm == "aHSCT") & (result.endpoint == "cd4_median"), "timepoint_years"]
    assert np.allclose(sorted(cd4), sorted(OUTCOMES.loc[OUTCOMES.endpoint == "cd4", "t_years"].unique()))


def test_deterministic(patients, result):
    again = endpoints_of(patients)
    pd.testing.assert_frame_equal(result, again)


def test_unknown_control_raises(patients):
    with pytest.raises(ValueError, match="control arm"):
        endpoints_of(patients, "placebo")


# --------------------------------------------------------------------------
# recovery of generating parameters
# --------------------------------------------------------------------------


def test_hazard_ratio_recovered(result):
    row = one(result, "aHSCT vs DMT", "progression_hazard_ratio")
    assert row.ci_low <= TRUE_HR <= row.ci_high
    assert row.ci_low < row.estimate < row.ci_high
    assert row.n == 600
    p = one(result, "aHSCT vs DMT", "progression_logrank_p")
    assert p.estimate < 1e-6
    assert math.isnan(p.ci_low) and math.isnan(p.ci_high)


def test_km_close_to_exponential(result):
    for arm, h in (("aHSCT", 0.05), ("DMT", 0.20)):
        for year in range(1, 6):
            row = one(result, arm, "progression_free", year)
            # Death censoring is light, so KM ~ exp(-h t).
            assert abs(row.estimate - math.exp(-h * year)) < 0.08
            assert row.ci_low <= row.estimate <= row.ci_high


def test_km_median(result):
    dmt = one(result, "DMT", "progression_median_years")
    assert abs(dmt.estimate - math.log(2) / 0.20) < 0.8
    assert dmt.ci_low <= dmt.estimate <= dmt.ci_high
    # aHSCT stays above 50 % progression-free: median not reached.
    assert math.isnan(one(result, "aHSCT", "progression_median_years").estimate)


def test_arr_close_to_generating_rates(result):
    for arm, rate in TRUE_ARR.items():
        row = one(result, arm, "annualized_relapse_rate")
        assert abs(row.estimate / rate - 1) < 0.2
        assert row.ci_low <= rate <= row.ci_high
    rr = one(result, "aHSCT vs DMT", "relapse_rate_ratio")
    assert rr.ci_low <= TRUE_ARR["aHSCT"] / TRUE_ARR["DMT"] <= rr.ci_high


def test_poisson_fallback_when_nb_fails(patients, monkeypatch):
    monkeypatch.setattr(rate_kind, "_fit_nb", lambda *a, **k: None)
    res = endpoints_of(patients)
    for arm, rate in TRUE_ARR.items():
        row = one(res, arm, "annualized_relapse_rate")
        assert abs(row.estimate / rate - 1) < 0.2
        assert row.ci_low < row.estimate < row.ci_high
    rr = one(res, "aHSCT vs DMT", "relapse_rate_ratio")
    assert rr.ci_low < rr.estimate < rr.ci_high


# --------------------------------------------------------------------------
# intervals
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint", ["neda3", "treatment_related_mortality", "all_cause_mortality", "progression_free", "mean_edss"]
)
def test_cis_contain_estimate(result, endpoint):
    d = result[result["endpoint"] == endpoint]
    assert len(d) > 0
    assert (d["ci_low"] <= d["estimate"] + 1e-12).all()
    assert (d["estimate"] <= d["ci_high"] + 1e-12).all()


def test_neda3_is_wilson(patients, result):
    col = visit_values(patients[patients.arm == "aHSCT"], "neda3", 2).dropna()
    k, n = int(col.sum()), len(col)
    ci = stats.binomtest(k, n).proportion_ci(method="wilson")
    row = one(result, "aHSCT", "neda3", 2)
    assert row.n == n
    assert row.estimate == pytest.approx(k / n)
    assert (row.ci_low, row.ci_high) == pytest.approx((ci.low, ci.high))


def test_trm_counts_and_exact_ci(patients, result):
    d = patients[patients.arm == "aHSCT"]
    k = int((d.treatment_related_death & (d.death_time_years <= 1.0)).sum())
    ci = stats.binomtest(k, len(d)).proportion_ci(method="exact")
    row = one(result, "aHSCT", "treatment_related_mortality", 1.0)
    assert row.n == len(d)
    assert row.estimate == pytest.approx(k / len(d))
    assert (row.ci_low, row.ci_high) == pytest.approx((ci.low, ci.high))
    dmt = one(result, "DMT", "treatment_related_mortality", 100 / 365.25)
    assert dmt.estimate == 0.0 and dmt.ci_low == 0.0 and dmt.ci_high > 0


def test_median_order_statistic_ci():
    med, lo, hi, n = median_order_statistic_ci(np.arange(1, 101, dtype=float))
    assert (med, lo, hi, n) == (50.5, 40.0, 61.0, 100)
    med, lo, hi, n = median_order_statistic_ci([3.0, 1.0, 2.0, np.nan])
    assert med == 2.0 and n == 3 and math.isnan(lo) and math.isnan(hi)
    med, lo, hi, n = median_order_statistic_ci([])
    assert n == 0 and math.isnan(med)


def test_edss_uses_patients_alive(patients, result):
    d = patients[patients.arm == "DMT"]
    row = one(result, "DMT", "mean_edss", 5)
    y5, y0 = visit_values(d, "edss", 5), visit_values(d, "edss", 0)
    assert row.n == y5.notna().sum()
    assert row.estimate == pytest.approx(y5.mean())
    change = one(result, "DMT", "edss_change", 5)
    assert change.estimate == pytest.approx((y5 - y0).mean())


def test_engraftment_only_for_transplant_arm(result):
    eng = result[result["endpoint"] == "engraftment_day_median"]
    assert list(eng["arm"]) == ["aHSCT"]
    assert eng.iloc[0].ci_low <= eng.iloc[0].estimate <= eng.iloc[0].ci_high


# --------------------------------------------------------------------------
# edge cases
# --------------------------------------------------------------------------


def test_arm_without_progression_events(patients):
    p = patients.copy()
    m = p.arm == "aHSCT"
    p.loc[m, "progressed"] = False
    p.loc[m, "time_to_progression_years"] = p.loc[m, "follow_up_years"]
    res = endpoints_of(p)
    assert math.isnan(one(res, "aHSCT vs DMT", "progression_hazard_ratio").estimate)
    assert one(res, "aHSCT", "progression_free", 3).estimate == 1.0
    assert math.isnan(one(res, "aHSCT", "progression_median_years").estimate)
    assert 0 <= one(res, "aHSCT vs DMT", "progression_logrank_p").estimate < 1e-6


def test_no_events_at_all(patients):
    p = patients.copy()
    p["progressed"] = False
    p["n_relapses"] = 0
    res = endpoints_of(p)
    assert math.isnan(one(res, "aHSCT vs DMT", "progression_logrank_p").estimate)
    arr = one(res, "DMT", "annualized_relapse_rate")
    assert arr.estimate == 0.0 and arr.ci_low == 0.0 and arr.ci_high > 0
    assert math.isnan(one(res, "aHSCT vs DMT", "relapse_rate_ratio").estimate)


def test_zero_relapses_in_one_arm(patients):
    p = patients.copy()
    p.loc[p.arm == "aHSCT", "n_relapses"] = 0
    res = endpoints_of(p)
    rr = one(res, "aHSCT vs DMT", "relapse_rate_ratio")
    assert rr.estimate == 0.0 and math.isnan(rr.ci_low)


def test_no_transplant_arm():
    params = TrialParams(
        arms=(
            ArmParams("DMT-high", "conventional", 0.1, 0.3, 0.5),
            ArmParams("DMT", "conventional", 0.2, 0.6, 1.5),
        ),
        n_per_arm=80,
    )
    res = compute_endpoints(make_records(params), MS_ENDPOINTS)
    assert "engraftment_day_median" not in set(res["endpoint"])
    assert list(res.columns) == ENDPOINT_COLUMNS


def test_three_arms_and_tiny_arm():
    params = TrialParams(
        arms=(
            ArmParams("aHSCT", "ahsct", 0.05, 0.15, 0.2, trm_prob=0.02),
            ArmParams("tiny", "conventional", 0.2, 0.6, 1.5),
            ArmParams("DMT", "conventional", 0.2, 0.6, 1.5),
        ),
        n_per_arm=60,
    )
    p = make_patients(params)
    p = p[(p.arm != "tiny") | (p.patient_id.isin(p.loc[p.arm == "tiny", "patient_id"].head(2)))]
    res = compute_endpoints(make_records(params, p), MS_ENDPOINTS)
    comps = set(res.loc[res.endpoint == "progression_hazard_ratio", "arm"])
    assert comps == {"aHSCT vs DMT", "tiny vs DMT"}
    assert one(res, "tiny", "annualized_relapse_rate").n == 2


def test_fractional_follow_up(patients):
    res = endpoints_of(patients, fu=3.5)
    years = sorted(res.loc[(res.arm == "DMT") & (res.endpoint == "neda3"), "timepoint_years"])
    assert years == [1, 2, 3]
    acm = res.loc[(res.arm == "DMT") & (res.endpoint == "all_cause_mortality"), "timepoint_years"]
    assert np.allclose(sorted(acm), [1, 2, 3, 3.5])  # at the whole years and at the end of follow-up


# --------------------------------------------------------------------------
# baseline table and KM fitters
# --------------------------------------------------------------------------


def test_baseline_table(patients):
    b = baseline_table(patients, REQUESTED_BASELINE, MS.baseline)
    assert list(b.columns) == BASELINE_COLUMNS
    assert len(b) == 2 * 5
    age = b[(b.arm == "DMT") & (b.variable == "age")].iloc[0]
    d = patients[patients.arm == "DMT"]["age"]
    assert age.requested_mean == 36 and age.requested_max == 55
    assert age.simulated_mean == pytest.approx(d.mean())
    assert age.simulated_sd == pytest.approx(d.std(ddof=1))
    rel = b[(b.arm == "DMT") & (b.variable == "relapses_prior_year")].iloc[0]
    assert math.isnan(rel.requested_mean) and rel.requested_min == 2
    dur = b[(b.arm == "DMT") & (b.variable == "disease_duration_years")].iloc[0]
    assert math.isnan(dur.requested_sd)
    fem = b[(b.arm == "aHSCT") & (b.variable == "female_pct")].iloc[0]
    assert fem.simulated_mean == pytest.approx((patients[patients.arm == "aHSCT"].sex == "F").mean() * 100)
    assert list(baseline_table(patients, {}, MS.baseline).columns) == BASELINE_COLUMNS


def test_km_fitters(patients):
    f = km_fitters(patients, MS.endpoint("progression"))
    assert list(f) == ["aHSCT", "DMT"]
    assert f["DMT"].event_observed.sum() == patients.loc[patients.arm == "DMT", "progressed"].sum()
    assert set(km_fitters(patients, Survival("death", "Alive", "follow_up_years", "died"))) == {"aHSCT", "DMT"}
    with pytest.raises(KeyError):
        km_fitters(patients, Survival("relapse", "Relapse-free", "time_to_relapse_years", "relapsed"))


def test_outcomes_read_as_patients_by_visits():
    """Records.outcome: one row per patient in the patients' order (NaN where none), one column per visit;
    two values for one patient at one visit are refused."""
    p = pd.DataFrame({"patient_id": [3, 1, 2], "arm": ["A", "A", "B"]})
    o = pd.DataFrame({"patient_id": [1, 1, 3], "endpoint": pd.Categorical(["s", "s", "s"]),
                      "t_years": [0.0, 1.0, 1.0], "value": [1.0, 2.0, 3.0]})
    w = Records(p, o).outcome("s")
    assert list(w.index) == [3, 1, 2] and list(w.columns) == [0.0, 1.0]
    np.testing.assert_array_equal(w.to_numpy(), [[np.nan, 3.0], [1.0, 2.0], [np.nan, np.nan]])
    assert Records(p, o).outcome("s", p[p.arm == "B"]).isna().all().all()
    assert Records(p, o).outcome("absent").shape == (3, 0) and not Records(p, o).has("absent")
    with pytest.raises(ValueError, match="more than one value"):
        Records(p, pd.concat([o, o.iloc[:1]])).outcome("s")


def test_proportion_comparisons_against_the_control(patients, result):
    """neda3 at year 2, aHSCT vs DMT: risk difference, relative risk and odds ratio from the two arms' counts,
    with the CIs statsmodels gives for them (Newcombe; Miettinen-Nurminen score)."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    def counts(arm):
        v = visit_values(patients[patients.arm == arm], "neda3", 2).dropna()
        return int(v.sum()), len(v)

    (k1, n1), (k0, n0) = counts("aHSCT"), counts("DMT")
    p1, p0 = k1 / n1, k0 / n0
    rd = one(result, "aHSCT vs DMT", "neda3_risk_difference", 2)
    assert rd.estimate == pytest.approx(p1 - p0) and rd.n == n1 + n0
    assert (rd.ci_low, rd.ci_high) == pytest.approx(confint_proportions_2indep(k1, n1, k0, n0, method="newcomb"))
    rr = one(result, "aHSCT vs DMT", "neda3_relative_risk", 2)
    assert rr.estimate == pytest.approx(p1 / p0) and rr.ci_low < rr.estimate < rr.ci_high
    odds = one(result, "aHSCT vs DMT", "neda3_odds_ratio", 2)
    assert odds.estimate == pytest.approx((p1 / (1 - p1)) / (p0 / (1 - p0)))
    assert (odds.ci_low, odds.ci_high) == pytest.approx(
        confint_proportions_2indep(k1, n1, k0, n0, method="score", compare="odds-ratio"))
    assert rd.estimate > 0 and rr.ci_low > 1  # aHSCT keeps more patients free of disease activity
    assert set(result.loc[result.endpoint == "neda3_risk_difference", "timepoint_years"]) == {1, 2, 3, 4, 5}


def test_score_comparisons_against_the_control(patients, result):
    """Difference in mean EDSS and in its change from baseline at year 5: Welch intervals (scipy)."""
    a, d = patients[patients.arm == "aHSCT"], patients[patients.arm == "DMT"]
    x1 = (visit_values(a, "edss", 5) - visit_values(a, "edss", 0)).dropna().to_numpy()
    x0 = (visit_values(d, "edss", 5) - visit_values(d, "edss", 0)).dropna().to_numpy()
    row = one(result, "aHSCT vs DMT", "edss_change_difference", 5)
    ci = stats.ttest_ind(x1, x0, equal_var=False).confidence_interval(0.95)
    assert row.estimate == pytest.approx(x1.mean() - x0.mean()) and row.n == x1.size + x0.size
    assert (row.ci_low, row.ci_high) == pytest.approx((ci.low, ci.high))
    assert row.ci_high < 0  # less worsening after aHSCT (slower progression in the generating parameters)
    diff = one(result, "aHSCT vs DMT", "edss_difference", 5)
    assert diff.estimate == pytest.approx(visit_values(a, "edss", 5).mean() - visit_values(d, "edss", 5).mean())


def test_ratio_with_a_zero_count_has_no_interval():
    from remit.endpoints.visits import two_proportion_effect

    assert two_proportion_effect(0, 50, 10, 50, "ratio")[0] == 0.0
    assert all(math.isnan(x) for x in two_proportion_effect(0, 50, 10, 50, "odds-ratio")[1:])
    est, lo, hi = two_proportion_effect(0, 50, 0, 50, "diff")
    assert est == 0.0 and lo < 0 < hi  # Newcombe handles zero counts


def test_comparison_intervals_contain_their_estimates_in_every_small_table():
    """Every 2x2 table with up to 8 patients per arm: each risk difference, relative risk and odds ratio that
    has a CI lies inside it (statsmodels' score interval of a relative risk misses it when a proportion is 1)."""
    from remit.endpoints.visits import two_proportion_effect

    for n1 in range(1, 9):
        for n0 in range(1, 9):
            for k1 in range(n1 + 1):
                for k0 in range(n0 + 1):
                    for effect in ("diff", "ratio", "odds-ratio"):
                        est, lo, hi = two_proportion_effect(k1, n1, k0, n0, effect)
                        if math.isfinite(lo) and math.isfinite(hi):
                            tol = 1e-9 * max(1.0, abs(est))
                            assert lo - tol <= est <= hi + tol, (k1, n1, k0, n0, effect, est, lo, hi)


# --------------------------------------------------------------------------
# slopes
# --------------------------------------------------------------------------


def test_patient_slopes_are_least_squares_over_the_visits_with_a_value():
    from remit.endpoints.slope import patient_slopes

    rng = np.random.default_rng(3)
    t = np.array([0.0, 0.25, 0.5, 1.0, 2.0])
    y = rng.normal(size=(50, t.size)) + 0.7 * t
    y[rng.random(y.shape) < 0.25] = np.nan
    y[0, 1:] = np.nan  # baseline only: no slope
    got = patient_slopes(pd.DataFrame(y, columns=t))
    for i in range(len(y)):
        ok = np.isfinite(y[i])
        want = np.polyfit(t[ok], y[i, ok], 1)[0] if ok.sum() >= 2 else np.nan
        assert got[i] == pytest.approx(want, abs=1e-12, nan_ok=True), i


def test_slope_rows_recover_each_arms_slope_and_their_difference():
    from remit.endpoints import Slope

    rng = np.random.default_rng(4)
    n, t = 400, (0.0, 0.5, 1.0, 2.0)
    pats = pd.DataFrame({"patient_id": np.arange(2 * n), "arm": ["A"] * n + ["B"] * n})
    slope = np.where(pats["arm"] == "A", -1.0, -0.25)
    rows = [pd.DataFrame({"patient_id": pats["patient_id"], "endpoint": "fvc", "t_years": tk,
                          "value": 80 + slope * tk + rng.normal(0, 1, 2 * n)}) for tk in t]
    records = Records(pats, pd.concat(rows, ignore_index=True), 2.0, "B")
    ep = pd.DataFrame(Slope("fvc_slope", "FVC slope", "fvc", "% per year", False).rows(records))
    est = ep.set_index("arm")["estimate"]
    assert est["A"] == pytest.approx(-1.0, abs=0.05) and est["B"] == pytest.approx(-0.25, abs=0.05)
    diff = ep[ep["endpoint"] == "fvc_slope_difference"].iloc[0]
    assert diff["arm"] == "A vs B" and diff["ci_low"] < -0.75 < diff["ci_high"] and diff["n"] == 2 * n
