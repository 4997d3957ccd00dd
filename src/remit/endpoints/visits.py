"""Outcomes observed at visits: a clinical score (mean, change from baseline) and a binary
outcome (proportion), each from the outcomes table's rows of that endpoint."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from remit.endpoints.base import ENDPOINT_KINDS, EndpointKind, FigureView, Records, comparison_label, row, whole_years
from remit.endpoints.intervals import mean_t_interval, proportion_ci


def _visits(records: Records, name: str, patients: pd.DataFrame, baseline: bool) -> list[tuple[float, np.ndarray]]:
    """(time in years, values of ``patients``) of outcome ``name`` at each recorded visit within
    follow-up, in time order; the baseline visit (t = 0) only if ``baseline``."""
    wide = records.outcome(name, patients)
    end = records.follow_up_years + 1e-9
    return [(float(t), wide[t].to_numpy(dtype=float)) for t in wide.columns if (baseline or t > 0) and t <= end]


@ENDPOINT_KINDS.register("score")
@dataclass(frozen=True)
class Score(EndpointKind):
    """A clinical score measured at visits: outcome rows ``name`` (t = 0 is baseline) and the
    quarterly visit column ``name`` of the visits table.

    Endpoints ``mean_{name}`` and ``{name}_change`` (from baseline), Student-t 95% CIs.
    """

    name: str
    label: str
    unit: str
    lower_is_better: bool = True
    definition: str = ""

    kind = "score"
    section = "score"
    test_name = "Welch t test"
    effect_name = "difference in mean change from baseline"
    timed = True
    summary = "score at visits (mean, change from baseline)"

    def labels(self) -> dict[str, str]:
        unit = f" ({self.unit})" if self.unit else ""
        return {f"mean_{self.name}": f"Mean {self.label}{unit}",
                f"{self.name}_change": f"Mean {self.label} change from baseline",
                f"{self.name}_difference": f"Difference in mean {self.label}{unit} (Welch)",
                f"{self.name}_change_difference": f"Difference in mean {self.label} change from baseline (Welch)"}

    def digits(self) -> dict[str, int]:
        return {n: 2 for n in self.labels()}

    def title(self) -> str:
        return f"Mean {self.label} over time"

    def row_types(self) -> dict[str, str]:
        return {n: "other" if n.endswith("difference") else "mean" for n in self.names()}

    def timepoints(self, follow_up_years: float) -> dict[str, float | None]:
        # the between-arm rows are not design statistics: a sensitivity analysis takes arm minus control itself
        k = float(whole_years(follow_up_years))
        return {f"mean_{self.name}": k, f"{self.name}_change": k}

    def headline(self) -> list[str]:
        return [f"mean_{self.name}", f"{self.name}_change", f"{self.name}_change_difference"]

    def rows(self, records: Records) -> list[dict]:
        visits = {arm: dict(_visits(records, self.name, records.arm(arm), baseline=True)) for arm in records.arms}
        rows = []
        for arm, at in visits.items():
            for t, v in at.items():
                m, lo, hi, n = mean_t_interval(v)
                rows.append(row(arm, f"mean_{self.name}", t, m, lo, hi, n))
            if 0.0 not in at:
                continue
            for t, v in at.items():
                if t > 0:
                    m, lo, hi, n = mean_t_interval(v - at[0.0])
                    rows.append(row(arm, f"{self.name}_change", t, m, lo, hi, n))
        return rows + self._comparisons(records, visits)

    def _comparisons(self, records: Records, visits: dict[str, dict[float, np.ndarray]]) -> list[dict]:
        """Each arm against the control at each visit after baseline: the difference in means of the score
        and of its change from baseline, with Welch 95% CIs (``visits``: arm -> visit time -> values)."""
        rows = []
        control = visits[records.control_arm]
        for arm in records.comparisons:
            at = visits[arm]
            label = comparison_label(arm, records.control_arm)
            for t in sorted(set(at) & set(control)):
                if t == 0:
                    continue
                rows.append(row(label, f"{self.name}_difference", t, *welch_difference(at[t], control[t])))
                if 0.0 in at and 0.0 in control:
                    rows.append(row(label, f"{self.name}_change_difference", t,
                                    *welch_difference(at[t] - at[0.0], control[t] - control[0.0])))
        return rows

    def figure(self, view: FigureView):
        from remit.report import plots

        return plots.score_figure(view.visits, self.name, self.label, self.unit, view.order)

    def arm_data(self, records: Records, patients: pd.DataFrame, year: int | None) -> dict[str, np.ndarray]:
        wide = records.outcome(self.name, patients)
        return {"v": wide[float(year)].to_numpy(dtype=float) - wide[0.0].to_numpy(dtype=float)}

    def analyse(self, a0: dict, a1: dict) -> tuple[float, float]:
        return welch_test(a0["v"], a1["v"])


@ENDPOINT_KINDS.register("proportion")
@dataclass(frozen=True)
class Proportion(EndpointKind):
    """A binary outcome at visits after baseline: outcome rows ``name`` (1, 0, or NaN when the
    patient is dead or not assessable).

    Endpoint ``{name}`` (proportion with Wilson 95% CI among the patients assessed at the visit).
    """

    name: str
    label: str
    definition: str = ""

    kind = "proportion"
    section = "prop"
    test_name = "two-proportion z test (pooled)"
    effect_name = "difference in proportions"
    timed = True
    summary = "proportion at visits (Wilson)"

    def labels(self) -> dict[str, str]:
        return {self.name: f"{self.label} proportion",
                f"{self.name}_risk_difference": f"{self.label}: risk difference (Newcombe)",
                f"{self.name}_relative_risk": f"{self.label}: relative risk (score CI)",
                f"{self.name}_odds_ratio": f"{self.label}: odds ratio (score CI)"}

    def digits(self) -> dict[str, int]:
        return {self.name: 3, f"{self.name}_risk_difference": 3, f"{self.name}_relative_risk": 2,
                f"{self.name}_odds_ratio": 2}

    def row_types(self) -> dict[str, str]:
        return {n: "proportion" if n == self.name else "other" for n in self.names()}

    def timepoints(self, follow_up_years: float) -> dict[str, float | None]:
        return {self.name: float(whole_years(follow_up_years))}

    def headline(self) -> list[str]:
        return [self.name, f"{self.name}_risk_difference"]

    def rows(self, records: Records) -> list[dict]:
        # arm -> visit time -> (responders, patients assessed)
        counts = {arm: {t: _responders(v) for t, v in _visits(records, self.name, records.arm(arm), baseline=False)}
                  for arm in records.arms}
        rows = []
        for arm, at in counts.items():
            for t, (k, n) in at.items():
                rows.append(row(arm, self.name, t, *proportion_ci(k, n, "wilson"), n))
        return rows + self._comparisons(records, counts)

    def _comparisons(self, records: Records, counts: dict[str, dict[float, tuple[int, int]]]) -> list[dict]:
        """Each arm against the control at each visit: risk difference, relative risk and odds ratio."""
        rows = []
        control = counts[records.control_arm]
        for arm in records.comparisons:
            label = comparison_label(arm, records.control_arm)
            for t, (k1, n1) in counts[arm].items():
                if t not in control:
                    continue
                k0, n0 = control[t]
                for suffix, effect in (("risk_difference", "diff"), ("relative_risk", "ratio"),
                                       ("odds_ratio", "odds-ratio")):
                    rows.append(row(label, f"{self.name}_{suffix}", t, *two_proportion_effect(k1, n1, k0, n0, effect),
                                    n1 + n0))
        return rows

    def figure(self, view: FigureView):
        from remit.report import plots

        return plots.proportion_figure(view.endpoints, self.name, self.label, view.order)

    def arm_data(self, records: Records, patients: pd.DataFrame, year: int | None) -> dict[str, np.ndarray]:
        v = records.outcome(self.name, patients)[float(year)].to_numpy(dtype=float)
        return {"v": np.where(np.isfinite(v), (v >= 0.5).astype(float), np.nan)}

    def analyse(self, a0: dict, a1: dict) -> tuple[float, float]:
        return two_proportion_test(a0["v"], a1["v"])


def _responders(v: np.ndarray) -> tuple[int, int]:
    """(patients with the outcome, patients assessed) among values 1/0/NaN."""
    v = v[np.isfinite(v)]
    return int((v >= 0.5).sum()), int(v.size)


def welch_test(v0: np.ndarray, v1: np.ndarray) -> tuple[float, float]:
    """(mean of ``v1`` minus mean of ``v0``, two-sided Welch p), NaN left out; NaN with fewer than 2 values in a group."""
    x0, x1 = v0[np.isfinite(v0)], v1[np.isfinite(v1)]
    if x0.size < 2 or x1.size < 2:
        return math.nan, math.nan
    return float(x1.mean() - x0.mean()), float(stats.ttest_ind(x1, x0, equal_var=False).pvalue)


def welch_difference(x1: np.ndarray, x0: np.ndarray) -> tuple[float, float, float, int]:
    """Mean of ``x1`` minus mean of ``x0`` (NaN left out) with the Welch 95% CI (scipy); NaN CI with fewer
    than 2 values in a group. Returns (difference, ci_low, ci_high, n of both groups)."""
    x1, x0 = x1[np.isfinite(x1)], x0[np.isfinite(x0)]
    n = x1.size + x0.size
    if x1.size == 0 or x0.size == 0:
        return math.nan, math.nan, math.nan, n
    diff = float(x1.mean() - x0.mean())
    if x1.size < 2 or x0.size < 2:
        return diff, math.nan, math.nan, n
    with warnings.catch_warnings():  # identical values (no spread): scipy warns and returns a degenerate CI
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = stats.ttest_ind(x1, x0, equal_var=False).confidence_interval(0.95)
    return diff, float(ci.low), float(ci.high), n


def two_proportion_effect(k1: int, n1: int, k0: int, n0: int, effect: str) -> tuple[float, float, float]:
    """Group 1 against group 0: ``effect`` ``"diff"`` (risk difference, Newcombe hybrid score CI),
    ``"ratio"`` (relative risk) or ``"odds-ratio"``, the last two with score CIs (statsmodels
    ``confint_proportions_2indep``, Miettinen-Nurminen; a relative risk with a proportion of 1 gets the
    log (Katz) interval, where the score inversion fails). A ratio with a zero cell has no CI: its
    estimate (0, or NaN where it is unbounded or undefined) comes without one."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    if n1 == 0 or n0 == 0:
        return math.nan, math.nan, math.nan
    p1, p0 = k1 / n1, k0 / n0
    if effect == "diff":
        est, method = p1 - p0, "newcomb"
    elif effect == "ratio":
        # statsmodels' score inversion misses the estimate when a proportion is 1: the log (Katz) interval there
        est, method = (p1 / p0 if p0 > 0 else math.nan), "score" if k1 < n1 and k0 < n0 else "log"
        if min(k1, k0) == 0:
            return (0.0 if k1 == 0 and k0 > 0 else math.nan), math.nan, math.nan
    else:
        odds0 = k0 / (n0 - k0) if k0 < n0 else math.nan
        est = (k1 / (n1 - k1)) / odds0 if k1 < n1 and odds0 and math.isfinite(odds0) else math.nan
        method = "score"
        if min(k1, k0, n1 - k1, n0 - k0) == 0:
            return (0.0 if k1 == 0 and 0 < k0 < n0 else math.nan), math.nan, math.nan
    lo, hi = confint_proportions_2indep(k1, n1, k0, n0, method=method, compare=effect)
    return float(est), float(lo), float(hi)


def two_proportion_test(v0: np.ndarray, v1: np.ndarray) -> tuple[float, float]:
    """(p1 - p0, two-sided p) of the pooled two-proportion z test; NaN entries (dead) are left out,
    as the endpoint rows' denominators."""
    x0, x1 = v0[np.isfinite(v0)], v1[np.isfinite(v1)]
    n0, n1 = x0.size, x1.size
    if n0 == 0 or n1 == 0:
        return math.nan, math.nan
    p0, p1 = x0.mean(), x1.mean()
    pool = (x0.sum() + x1.sum()) / (n0 + n1)
    if pool <= 0 or pool >= 1:
        return float(p1 - p0), 1.0
    z = (p1 - p0) / math.sqrt(pool * (1 - pool) * (1 / n0 + 1 / n1))
    return float(p1 - p0), float(2 * stats.norm.sf(abs(z)))
