"""Events counted over follow-up: annualised rate and rate ratio from a negative binomial model.

NB2 regression with a log person-years offset (statsmodels), falling back to a Poisson GLM with
sandwich (HC0) errors when the NB fit fails or does not converge; all-zero counts get the exact
Poisson upper bound (docs/endpoints.md).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from remit.endpoints.base import ALPHA, ENDPOINT_KINDS, NAN, EndpointKind, FigureView, Records, comparison_label, row
from remit.endpoints.words import cap, words


@ENDPOINT_KINDS.register("rate")
@dataclass(frozen=True)
class Rate(EndpointKind):
    """Events counted over follow-up: patient column ``count_col``, exposure ``follow_up_years``.

    Endpoints ``annualized_{name}_rate`` (negative binomial) and ``{name}_rate_ratio``.
    """

    name: str
    label: str
    count_col: str
    definition: str = ""

    kind = "rate"
    section = "rate"
    test_name = "Wald test of the NB rate ratio"
    effect_name = "rate ratio (NB)"
    summary = "event rate (negative binomial)"

    def labels(self) -> dict[str, str]:
        return {f"annualized_{self.name}_rate": f"{self.label} (per patient-year)",
                f"{self.name}_rate_ratio": f"{cap(words(self.name))} rate ratio"}

    def digits(self) -> dict[str, int]:
        return {f"annualized_{self.name}_rate": 3, f"{self.name}_rate_ratio": 2}

    def timepoints(self, follow_up_years: float) -> dict[str, float | None]:
        return {f"annualized_{self.name}_rate": float(follow_up_years), f"{self.name}_rate_ratio": None}

    def counts(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Event counts and person-years, dropping rows with no exposure."""
        y = df[self.count_col].to_numpy(dtype=float)
        py = df["follow_up_years"].to_numpy(dtype=float)
        ok = np.isfinite(y) & np.isfinite(py) & (py > 0)
        return y[ok], py[ok]

    def rows(self, records: Records) -> list[dict]:
        rows = []
        fu = records.follow_up_years
        data = {arm: self.counts(records.arm(arm)) for arm in records.arms}
        for arm in records.arms:
            y, py = data[arm]
            rows.append(row(arm, f"annualized_{self.name}_rate", fu, *annualized_rate(y, py), y.size))
        y0, py0 = data[records.control_arm]
        for arm in records.comparisons:
            y1, py1 = data[arm]
            rows.append(row(comparison_label(arm, records.control_arm), f"{self.name}_rate_ratio", fu,
                            *rate_ratio(y0, py0, y1, py1), y0.size + y1.size))
        return rows

    def figure(self, view: FigureView):
        from remit.report import plots

        return plots.rate_figure(view.endpoints, f"annualized_{self.name}_rate", self.label, view.order)

    # -- power -------------------------------------------------------------------------
    def arm_data(self, records: Records, patients: pd.DataFrame, year: int | None) -> dict[str, np.ndarray]:
        return {"y": patients[self.count_col].to_numpy(dtype=float),
                "py": patients["follow_up_years"].to_numpy(dtype=float)}

    def analyse(self, a0: dict, a1: dict) -> tuple[float, float]:
        return rate_ratio_test(a0["y"], a0["py"], a1["y"], a1["py"])


# --------------------------------------------------------------------------
# count models
# --------------------------------------------------------------------------


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


def annualized_rate(y: np.ndarray, person_years: np.ndarray) -> tuple[float, float, float]:
    """Events per patient-year with 95 % CI from an intercept-only count model."""
    if y.size == 0:
        return NAN, NAN, NAN
    if y.sum() == 0:
        return _zero_count_rate(float(person_years.sum()))
    X = np.ones((y.size, 1))
    res = _rate_model(y, X, np.log(person_years))
    if res is None:
        return float(y.sum() / person_years.sum()), NAN, NAN
    return _exp_coef(res, 0)


def rate_ratio(y0, py0, y1, py1) -> tuple[float, float, float]:
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


def rate_ratio_test(y0, py0, y1, py1) -> tuple[float, float]:
    """(rate ratio, Wald p) from :func:`rate_ratio` (NB, robust Poisson fallback)."""

    def clean(y, py):
        ok = np.isfinite(y) & np.isfinite(py) & (py > 0)
        return y[ok], py[ok]

    y0, py0 = clean(y0, py0)
    y1, py1 = clean(y1, py1)
    rr, lo, hi = rate_ratio(y0, py0, y1, py1)
    if not (math.isfinite(rr) and math.isfinite(lo) and math.isfinite(hi) and rr > 0 and lo > 0):
        return rr, math.nan
    se = (math.log(hi) - math.log(lo)) / (2 * stats.norm.ppf(1 - ALPHA / 2))
    return rr, float(2 * stats.norm.sf(abs(math.log(rr)) / se)) if se > 0 else math.nan
