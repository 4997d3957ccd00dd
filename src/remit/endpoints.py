"""Trial endpoints computed from the simulated per-patient table.

Every function here is deterministic (no resampling) and pure: it reads the
``patients`` DataFrame produced by the engine and returns a new DataFrame.
Definitions, statistics, CI methods and units of each endpoint are listed in
``docs/endpoints.md``; the endpoint names are a stable contract.

Times are in years unless a name says otherwise (``engraftment_day`` is in
days, CD4 counts are cells per microlitre).
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Callable, Iterable

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test
from lifelines.utils import median_survival_times
from scipy import stats

__all__ = [
    "ENDPOINT_COLUMNS",
    "BASELINE_COLUMNS",
    "BASELINE_VARIABLES",
    "ENDPOINT_NAMES",
    "compute_endpoints",
    "baseline_table",
    "km_fitters",
    "comparison_label",
    "whole_years",
]

ENDPOINT_COLUMNS = ["arm", "endpoint", "timepoint_years", "estimate", "ci_low", "ci_high", "n"]

ENDPOINT_NAMES = (
    "progression_free",
    "progression_median_years",
    "progression_hazard_ratio",
    "progression_logrank_p",
    "annualized_relapse_rate",
    "relapse_rate_ratio",
    "mean_edss",
    "edss_change",
    "neda3",
    "treatment_related_mortality",
    "all_cause_mortality",
    "engraftment_day_median",
    "cd4_median",
    "severe_infections_per_patient",
)

BASELINE_VARIABLES = ("age", "edss_baseline", "disease_duration_years", "relapses_prior_year")
BASELINE_COLUMNS = [
    "arm",
    "variable",
    "requested_mean",
    "requested_sd",
    "requested_min",
    "requested_max",
    "simulated_mean",
    "simulated_sd",
    "simulated_min",
    "simulated_max",
    "n",
]

ALPHA = 0.05
NAN = float("nan")
# Treatment-related mortality is reported at day 100 (the usual transplant
# milestone) and at one year.
TRM_TIMEPOINTS_YEARS = (100.0 / 365.25, 1.0)
CD4_TIMEPOINTS = ((0.5, "cd4_m06"), (1.0, "cd4_y1"))
COX_BATCH_ROWS = 50_000  # from this many patients on, the Cox fit always uses lifelines' batch (per-time) pass


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def comparison_label(arm: str, control_arm: str) -> str:
    """Arm label used for between-arm rows, e.g. ``"aHSCT vs DMT"``."""
    return f"{arm} vs {control_arm}"


def whole_years(follow_up_years: float) -> int:
    """Number K of whole annual visits after baseline within follow-up."""
    # The epsilon keeps 5.0 from becoming 4 after float arithmetic upstream.
    return max(int(math.floor(float(follow_up_years) + 1e-9)), 0)


def _f(x) -> float:
    """Coerce to a Python float, mapping None/inf to NaN."""
    if x is None:
        return NAN
    try:
        v = float(x)
    except (TypeError, ValueError):
        return NAN
    return v if math.isfinite(v) else NAN


def _row(arm, endpoint, t, est, lo=NAN, hi=NAN, n=0) -> dict:
    return {
        "arm": str(arm),
        "endpoint": endpoint,
        "timepoint_years": _f(t),
        "estimate": _f(est),
        "ci_low": _f(lo),
        "ci_high": _f(hi),
        "n": float(n),
    }


def _arms_in_order(patients: pd.DataFrame) -> list[str]:
    return [str(a) for a in pd.unique(patients["arm"])]


def _year_columns(patients: pd.DataFrame, prefix: str, k_max: int, start: int = 1) -> list[tuple[float, str]]:
    """(time in years, column) pairs for ``{prefix}{k}`` columns present (k = start..k_max), and, when
    ``prefix`` is ``"{name}_y"``, for sub-annual ``{name}_w{week}`` columns (week x 7 / 365.25 years), in time order."""
    out = [(float(k), f"{prefix}{k}") for k in range(start, k_max + 1) if f"{prefix}{k}" in patients.columns]
    if prefix.endswith("_y"):
        weekly = re.compile(re.escape(prefix[:-1]) + r"w(\d+)$")
        for col in patients.columns:
            m = weekly.match(str(col))
            if m and int(m.group(1)) > 0:
                out.append((int(m.group(1)) * 7 / 365.25, col))
    return sorted(out)


def _bool(s: pd.Series) -> np.ndarray:
    """Boolean array with missing values as False (via the nullable dtype,
    which avoids pandas' object-downcasting warning)."""
    return s.astype("boolean").fillna(False).to_numpy(dtype=bool)


# --------------------------------------------------------------------------
# interval helpers (all two-sided 95 %)
# --------------------------------------------------------------------------


def mean_t_interval(values: Iterable[float], alpha: float = ALPHA) -> tuple[float, float, float, int]:
    """Mean and Student-t CI of the mean; NaN CI if fewer than 2 values.

    Returns (mean, ci_low, ci_high, n) in the units of ``values``.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return NAN, NAN, NAN, 0
    m = float(x.mean())
    if n < 2:
        return m, NAN, NAN, n
    sem = float(stats.sem(x))
    if sem == 0.0:
        return m, m, m, n
    lo, hi = stats.t.interval(1 - alpha, df=n - 1, loc=m, scale=sem)
    return m, float(lo), float(hi), n


def proportion_ci(k: int, n: int, method: str, alpha: float = ALPHA) -> tuple[float, float, float]:
    """Proportion k/n with a binomial CI (``"wilson"`` or ``"exact"`` = Clopper-Pearson)."""
    if n <= 0:
        return NAN, NAN, NAN
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=1 - alpha, method=method)
    return k / n, float(ci.low), float(ci.high)


def median_order_statistic_ci(values: Iterable[float], alpha: float = ALPHA) -> tuple[float, float, float, int]:
    """Sample median with a distribution-free CI from binomial order statistics.

    The number of observations below the true median is Binomial(n, 1/2);
    the CI is (x_(l), x_(n-l+1)) with l the smallest rank such that
    P(B <= l-1) < alpha/2, so coverage is at least 1 - alpha. NaN bounds
    when n is too small for that coverage (n < 6 at 95 %).
    """
    x = np.sort(np.asarray(values, dtype=float))
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return NAN, NAN, NAN, 0
    med = float(np.median(x))
    # ppf gives the smallest rank k with cdf(k) >= alpha/2, hence cdf(k-1) < alpha/2.
    k = int(stats.binom.ppf(alpha / 2, n, 0.5))
    if k < 1:
        return med, NAN, NAN, n
    return med, float(x[k - 1]), float(x[n - k]), n


# --------------------------------------------------------------------------
# survival
# --------------------------------------------------------------------------


def _survival_columns(endpoint) -> tuple[str, str]:
    """(time column, event column) of a :class:`remit.diseases.base.Survival` or of a name."""
    if hasattr(endpoint, "time_col"):
        return endpoint.time_col, endpoint.event_col
    if endpoint == "progression":
        return "time_to_progression_years", "progressed"
    if endpoint in ("death", "survival"):
        return "follow_up_years", "died"
    raise ValueError(f"unknown survival endpoint {endpoint!r}; use 'progression', 'death' or a Survival endpoint")


def _durations_events(df: pd.DataFrame, endpoint) -> tuple[np.ndarray, np.ndarray]:
    tcol, ecol = _survival_columns(endpoint)
    t = df[tcol].to_numpy(dtype=float)
    e = _bool(df[ecol])
    ok = np.isfinite(t) & (t >= 0)
    return t[ok], e[ok]


def km_fitters(patients: pd.DataFrame, endpoint="progression") -> dict[str, KaplanMeierFitter]:
    """Fitted Kaplan-Meier estimators per arm (time axis in years).

    ``endpoint`` is a :class:`remit.diseases.base.Survival` (its time and event columns),
    ``"progression"`` (6-month confirmed EDSS progression, death censors) or ``"death"``
    (all-cause death). Arms with no usable rows are omitted.
    """
    out: dict[str, KaplanMeierFitter] = {}
    for arm in _arms_in_order(patients):
        t, e = _durations_events(patients[patients["arm"] == arm], endpoint)
        if t.size == 0:
            continue
        out[arm] = KaplanMeierFitter(alpha=ALPHA).fit(t, e, label=arm)
    return out


def _step_value_at(frame: pd.DataFrame, t: float) -> pd.Series:
    """Right-continuous step-function value of each column at time t."""
    idx = frame.index.to_numpy(dtype=float)
    pos = int(np.searchsorted(idx, t, side="right")) - 1
    return frame.iloc[max(pos, 0)]


def _km_rows(arm: str, kmf: KaplanMeierFitter, n: int, follow_up_years: float, name: str = "progression") -> list[dict]:
    k_max = whole_years(follow_up_years)
    rows = []
    last_time = float(kmf.timeline.max()) if len(kmf.timeline) else 0.0
    ci = kmf.confidence_interval_survival_function_
    for year in range(1, k_max + 1):
        if year > last_time + 1e-6:
            # Beyond the last observed time the KM curve is undefined, unless it has already reached 0.
            at_zero = len(kmf.survival_function_) and float(kmf.survival_function_.iloc[-1, 0]) == 0.0
            rows.append(_row(arm, f"{name}_free", year, 0.0 if at_zero else NAN, n=n))
            continue
        est = float(kmf.survival_function_at_times([year]).iloc[0])
        lo, hi = _step_value_at(ci, year).to_numpy(dtype=float)
        rows.append(_row(arm, f"{name}_free", year, est, lo, hi, n))
    med_ci = median_survival_times(kmf.confidence_interval_)
    lo, hi = med_ci.iloc[0].to_numpy(dtype=float)
    rows.append(_row(arm, f"{name}_median_years", follow_up_years, kmf.median_survival_time_, lo, hi, n))
    return rows


def _cox_hazard_ratio(t0, e0, t1, e1) -> tuple[float, float, float]:
    """Cox PH hazard ratio of group 1 vs group 0 with 95 % Wald CI."""
    # With no events in either group the partial likelihood is monotone and
    # the HR is not estimable (the fit drifts to 0 or infinity).
    if e0.sum() == 0 or e1.sum() == 0:
        return NAN, NAN, NAN
    df = pd.DataFrame(
        {
            "t": np.concatenate([t0, t1]),
            "e": np.concatenate([e0, e1]).astype(int),
            "treated": np.r_[np.zeros(t0.size), np.ones(t1.size)],
        }
    )
    # lifelines picks between two evaluations of the same Efron partial likelihood with a rule fitted on
    # small data sets; for large ones it picks the per-row pass, about 25x slower than the per-time one
    # on a million patients with quarterly visit times (the results agree to about 1e-11 relative)
    batch_mode = True if len(df) >= COX_BATCH_ROWS else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cph = CoxPHFitter(alpha=ALPHA).fit(df, duration_col="t", event_col="e", batch_mode=batch_mode)
    except Exception:  # lifelines raises ConvergenceError on degenerate data
        return NAN, NAN, NAN
    s = cph.summary.loc["treated"]
    return (
        float(s["exp(coef)"]),
        float(s[f"exp(coef) lower {100 * (1 - ALPHA):.0f}%"]),
        float(s[f"exp(coef) upper {100 * (1 - ALPHA):.0f}%"]),
    )


def _logrank_p(t0, e0, t1, e1) -> float:
    if e0.sum() + e1.sum() == 0:
        return NAN
    try:
        return float(logrank_test(t0, t1, event_observed_A=e0, event_observed_B=e1).p_value)
    except Exception:
        return NAN


def _survival_rows(patients, arms, control_arm, follow_up_years, endpoint) -> list[dict]:
    rows: list[dict] = []
    name = endpoint.name
    fitters = km_fitters(patients, endpoint)
    for arm in arms:
        if arm in fitters:
            n = int((patients["arm"] == arm).sum())
            rows += _km_rows(arm, fitters[arm], n, follow_up_years, name)
    t0, e0 = _durations_events(patients[patients["arm"] == control_arm], endpoint)
    for arm in arms:
        if arm == control_arm:
            continue
        t1, e1 = _durations_events(patients[patients["arm"] == arm], endpoint)
        label = comparison_label(arm, control_arm)
        n = t0.size + t1.size
        hr, lo, hi = _cox_hazard_ratio(t0, e0, t1, e1)
        rows.append(_row(label, f"{name}_hazard_ratio", follow_up_years, hr, lo, hi, n))
        rows.append(_row(label, f"{name}_logrank_p", follow_up_years, _logrank_p(t0, e0, t1, e1), n=n))
    return rows


# --------------------------------------------------------------------------
# relapse rates
# --------------------------------------------------------------------------


def _count_data(df: pd.DataFrame, column: str = "n_relapses") -> tuple[np.ndarray, np.ndarray]:
    """Event counts and person-years, dropping rows with no exposure."""
    y = df[column].to_numpy(dtype=float)
    py = df["follow_up_years"].to_numpy(dtype=float)
    ok = np.isfinite(y) & np.isfinite(py) & (py > 0)
    return y[ok], py[ok]


def _fit_nb(y, X, offset):
    """Negative binomial (NB2) fit; None if it fails or does not converge."""
    from statsmodels.discrete.discrete_model import NegativeBinomial

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = NegativeBinomial(y, X, loglike_method="nb2", offset=offset).fit(disp=0, maxiter=200)
    except Exception:
        return None
    if not res.mle_retvals.get("converged", False):
        return None
    params = np.asarray(res.params, dtype=float)
    bse = np.asarray(res.bse, dtype=float)
    # A converged-but-degenerate fit (alpha at the boundary, singular Hessian)
    # shows up as non-finite standard errors.
    if not (np.all(np.isfinite(params)) and np.all(np.isfinite(bse))):
        return None
    return res


def _fit_poisson_robust(y, X, offset):
    """Poisson GLM with HC0 sandwich errors; None on failure."""
    import statsmodels.api as sm

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sm.GLM(y, X, family=sm.families.Poisson(), offset=offset).fit(cov_type="HC0")
    except Exception:
        return None
    if not np.all(np.isfinite(np.asarray(res.bse, dtype=float))):
        return None
    return res


def _rate_model(y, X, offset):
    """NB2 regression, falling back to robust Poisson (see docs/endpoints.md)."""
    res = _fit_nb(y, X, offset)
    if res is None:
        res = _fit_poisson_robust(y, X, offset)
    return res


def _exp_coef(res, i: int) -> tuple[float, float, float]:
    params = np.asarray(res.params, dtype=float)
    ci = np.asarray(res.conf_int(alpha=ALPHA), dtype=float)
    return math.exp(params[i]), math.exp(ci[i, 0]), math.exp(ci[i, 1])


def _zero_count_rate(person_years: float) -> tuple[float, float, float]:
    """Rate 0 with the exact Poisson upper bound (no model can fit all-zero counts)."""
    if person_years <= 0:
        return NAN, NAN, NAN
    upper = stats.chi2.ppf(1 - ALPHA / 2, 2) / 2 / person_years
    return 0.0, 0.0, float(upper)


def annualized_relapse_rate(y: np.ndarray, person_years: np.ndarray) -> tuple[float, float, float]:
    """Relapses per patient-year with 95 % CI from an intercept-only count model."""
    if y.size == 0:
        return NAN, NAN, NAN
    if y.sum() == 0:
        return _zero_count_rate(float(person_years.sum()))
    X = np.ones((y.size, 1))
    res = _rate_model(y, X, np.log(person_years))
    if res is None:
        return float(y.sum() / person_years.sum()), NAN, NAN
    return _exp_coef(res, 0)


def relapse_rate_ratio(y0, py0, y1, py1) -> tuple[float, float, float]:
    """Rate ratio of group 1 vs group 0 (control) with 95 % CI."""
    if y0.size == 0 or y1.size == 0:
        return NAN, NAN, NAN
    if y0.sum() == 0 or y1.sum() == 0:
        # Ratio is 0 or unbounded; report the crude value without a CI.
        crude0 = y0.sum() / py0.sum()
        crude1 = y1.sum() / py1.sum()
        return (crude1 / crude0 if crude0 > 0 else NAN), NAN, NAN
    y = np.concatenate([y0, y1])
    X = np.column_stack([np.ones(y.size), np.r_[np.zeros(y0.size), np.ones(y1.size)]])
    res = _rate_model(y, X, np.log(np.concatenate([py0, py1])))
    if res is None:
        return float((y1.sum() / py1.sum()) / (y0.sum() / py0.sum())), NAN, NAN
    return _exp_coef(res, 1)


def _rate_rows(patients, arms, control_arm, follow_up_years, endpoint) -> list[dict]:
    rows = []
    name = endpoint.name
    data = {arm: _count_data(patients[patients["arm"] == arm], endpoint.count_col) for arm in arms}
    for arm in arms:
        y, py = data[arm]
        rows.append(_row(arm, f"annualized_{name}_rate", follow_up_years, *annualized_relapse_rate(y, py), y.size))
    y0, py0 = data[control_arm]
    for arm in arms:
        if arm == control_arm:
            continue
        y1, py1 = data[arm]
        est = relapse_rate_ratio(y0, py0, y1, py1)
        rows.append(
            _row(comparison_label(arm, control_arm), f"{name}_rate_ratio", follow_up_years, *est, y0.size + y1.size)
        )
    return rows


# --------------------------------------------------------------------------
# per-year summaries
# --------------------------------------------------------------------------


def _score_rows(df: pd.DataFrame, arm: str, k_max: int, name: str = "edss") -> list[dict]:
    rows = []
    for year, col in _year_columns(df, f"{name}_y", k_max, start=0):
        m, lo, hi, n = mean_t_interval(df[col])
        rows.append(_row(arm, f"mean_{name}", year, m, lo, hi, n))
    if f"{name}_y0" not in df.columns:
        return rows
    base = df[f"{name}_y0"].to_numpy(dtype=float)
    for year, col in _year_columns(df, f"{name}_y", k_max, start=1):
        m, lo, hi, n = mean_t_interval(df[col].to_numpy(dtype=float) - base)
        rows.append(_row(arm, f"{name}_change", year, m, lo, hi, n))
    return rows


def _proportion_rows(df: pd.DataFrame, arm: str, k_max: int, name: str = "neda3") -> list[dict]:
    rows = []
    for year, col in _year_columns(df, f"{name}_y", k_max):
        v = df[col].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        est, lo, hi = proportion_ci(int((v >= 0.5).sum()), int(v.size), "wilson")
        rows.append(_row(arm, name, year, est, lo, hi, v.size))
    return rows


def _mortality_rows(df: pd.DataFrame, arm: str, follow_up_years: float) -> list[dict]:
    rows = []
    n = len(df)
    death_t = df["death_time_years"].to_numpy(dtype=float)
    died = _bool(df["died"])
    trd = _bool(df["treatment_related_death"]) & died
    for t in TRM_TIMEPOINTS_YEARS:
        k = int((trd & (death_t <= t + 1e-12)).sum())
        rows.append(_row(arm, "treatment_related_mortality", t, *proportion_ci(k, n, "exact"), n))
    # A death flagged without a time still counts: it happened during follow-up.
    k_all = int((died & ~(death_t > follow_up_years + 1e-12)).sum())
    rows.append(_row(arm, "all_cause_mortality", follow_up_years, *proportion_ci(k_all, n, "exact"), n))
    return rows


def _immune_rows(df: pd.DataFrame, arm: str, follow_up_years: float) -> list[dict]:
    rows = []
    if "engraftment_day" in df.columns and df["engraftment_day"].notna().any():
        m, lo, hi, n = median_order_statistic_ci(df["engraftment_day"])
        rows.append(_row(arm, "engraftment_day_median", follow_up_years, m, lo, hi, n))
    for t, col in CD4_TIMEPOINTS:
        if col in df.columns and df[col].notna().any():
            m, lo, hi, n = median_order_statistic_ci(df[col])
            rows.append(_row(arm, "cd4_median", t, m, lo, hi, n))
    if "n_severe_infections" in df.columns:
        m, lo, hi, n = mean_t_interval(df["n_severe_infections"])
        rows.append(_row(arm, "severe_infections_per_patient", follow_up_years, m, lo, hi, n))
    return rows


# --------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------


def compute_endpoints(patients: pd.DataFrame, control_arm: str, follow_up_years: float, catalog) -> pd.DataFrame:
    """All trial endpoints, one row per arm x endpoint x timepoint.

    ``catalog`` is the disease's endpoint list (:mod:`remit.diseases.base`: Survival, Rate,
    Score, Proportion). Columns are exactly ``ENDPOINT_COLUMNS``
    (all numeric columns float). Between-arm rows (hazard ratio, log-rank p, rate ratio)
    carry the arm label ``"<arm> vs <control_arm>"``. ``follow_up_years`` is the planned
    trial follow-up in years; annual endpoints run to its whole years.
    """
    from remit.diseases.base import Proportion, Rate, Score, Survival

    arms = _arms_in_order(patients)
    if control_arm not in arms:
        raise ValueError(f"control arm {control_arm!r} not among arms {arms}")
    k_max = whole_years(follow_up_years)
    rows: list[dict] = []
    for e in catalog:
        if isinstance(e, Survival):
            rows += _survival_rows(patients, arms, control_arm, follow_up_years, e)
    for e in catalog:
        if isinstance(e, Rate):
            rows += _rate_rows(patients, arms, control_arm, follow_up_years, e)
    per_arm: list[Callable[[pd.DataFrame, str], list[dict]]] = [
        *[(lambda d, a, e=e: _score_rows(d, a, k_max, e.name)) for e in catalog if isinstance(e, Score)],
        *[(lambda d, a, e=e: _proportion_rows(d, a, k_max, e.name)) for e in catalog if isinstance(e, Proportion)],
        lambda d, a: _mortality_rows(d, a, follow_up_years),
        lambda d, a: _immune_rows(d, a, follow_up_years),
    ]
    for make in per_arm:
        for arm in arms:
            rows += make(patients[patients["arm"] == arm], arm)
    out = pd.DataFrame(rows, columns=ENDPOINT_COLUMNS)
    num = ENDPOINT_COLUMNS[2:]
    out[num] = out[num].astype(float)
    return out.reset_index(drop=True)


def _requested(requested: dict, variable: str) -> dict[str, float]:
    spec = requested.get(variable) or {}
    if not isinstance(spec, dict):
        spec = {}
    return {f"requested_{k}": _f(spec.get(k)) for k in ("mean", "sd", "min", "max")}


def baseline_table(patients: pd.DataFrame, requested: dict | None, variables=None) -> pd.DataFrame:
    """Requested vs simulated baseline characteristics per arm.

    Rows per arm: ``age`` (years), ``edss_baseline`` (EDSS points),
    ``disease_duration_years`` (years), ``relapses_prior_year`` (count),
    and ``female_pct`` (percent of the arm; only ``simulated_mean`` is set).
    ``requested`` maps variable -> {"mean","sd","min","max"} (values may be
    None or missing, giving NaN).
    """
    requested = requested or {}
    names = BASELINE_VARIABLES if variables is None else tuple(getattr(v, "column", v) for v in variables)
    rows = []
    for arm in _arms_in_order(patients):
        df = patients[patients["arm"] == arm]
        for var in names:
            x = df[var].to_numpy(dtype=float) if var in df.columns else np.array([])
            x = x[np.isfinite(x)]
            sim = {
                "simulated_mean": float(x.mean()) if x.size else NAN,
                "simulated_sd": float(x.std(ddof=1)) if x.size > 1 else NAN,
                "simulated_min": float(x.min()) if x.size else NAN,
                "simulated_max": float(x.max()) if x.size else NAN,
            }
            rows.append({"arm": arm, "variable": var, **_requested(requested, var), **sim, "n": float(x.size)})
        sex = df["sex"].dropna().astype(str).str.upper() if "sex" in df.columns else pd.Series([], dtype=str)
        req_f = _requested(requested, "female_pct")
        rows.append(
            {
                "arm": arm,
                "variable": "female_pct",
                **req_f,
                "simulated_mean": float((sex == "F").mean() * 100) if len(sex) else NAN,
                "simulated_sd": NAN,
                "simulated_min": NAN,
                "simulated_max": NAN,
                "n": float(len(sex)),
            }
        )
    out = pd.DataFrame(rows, columns=BASELINE_COLUMNS)
    num = BASELINE_COLUMNS[2:]
    out[num] = out[num].astype(float)
    return out
