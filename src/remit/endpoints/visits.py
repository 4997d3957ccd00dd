"""Outcomes observed at visits: a clinical score (mean, change from baseline) and a binary
outcome (proportion), each from the outcomes table's rows of that endpoint."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from remit.endpoints.base import ENDPOINT_KINDS, EndpointKind, FigureView, Records, row, whole_years
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
        mean = f"Mean {self.label} ({self.unit})" if self.unit else f"Mean {self.label}"
        return {f"mean_{self.name}": mean, f"{self.name}_change": f"Mean {self.label} change from baseline"}

    def digits(self) -> dict[str, int]:
        return {f"mean_{self.name}": 2, f"{self.name}_change": 2}

    def title(self) -> str:
        return f"Mean {self.label} over time"

    def row_types(self) -> dict[str, str]:
        return {n: "mean" for n in self.names()}

    def timepoints(self, follow_up_years: float) -> dict[str, float | None]:
        k = float(whole_years(follow_up_years))
        return {f"mean_{self.name}": k, f"{self.name}_change": k}

    def rows(self, records: Records) -> list[dict]:
        rows = []
        for arm in records.arms:
            visits = _visits(records, self.name, records.arm(arm), baseline=True)
            for t, v in visits:
                m, lo, hi, n = mean_t_interval(v)
                rows.append(row(arm, f"mean_{self.name}", t, m, lo, hi, n))
            base = next((v for t, v in visits if t == 0.0), None)
            if base is None:
                continue
            for t, v in visits:
                if t > 0:
                    m, lo, hi, n = mean_t_interval(v - base)
                    rows.append(row(arm, f"{self.name}_change", t, m, lo, hi, n))
        return rows

    def figure(self, view: FigureView):
        from remit.report import plots

        return plots.score_figure(view.visits, self.name, self.label, self.unit, view.order)

    def arm_data(self, records: Records, patients: pd.DataFrame, year: int | None) -> dict[str, np.ndarray]:
        wide = records.outcome(self.name, patients)
        return {"v": wide[float(year)].to_numpy(dtype=float) - wide[0.0].to_numpy(dtype=float)}

    def analyse(self, a0: dict, a1: dict) -> tuple[float, float]:
        x0, x1 = a0["v"][np.isfinite(a0["v"])], a1["v"][np.isfinite(a1["v"])]
        if x0.size < 2 or x1.size < 2:
            return math.nan, math.nan
        p = stats.ttest_ind(x1, x0, equal_var=False).pvalue
        return float(x1.mean() - x0.mean()), float(p)


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
        return {self.name: f"{self.label} proportion"}

    def row_types(self) -> dict[str, str]:
        return {self.name: "proportion"}

    def timepoints(self, follow_up_years: float) -> dict[str, float | None]:
        return {self.name: float(whole_years(follow_up_years))}

    def rows(self, records: Records) -> list[dict]:
        rows = []
        for arm in records.arms:
            for t, v in _visits(records, self.name, records.arm(arm), baseline=False):
                v = v[np.isfinite(v)]
                est, lo, hi = proportion_ci(int((v >= 0.5).sum()), int(v.size), "wilson")
                rows.append(row(arm, self.name, t, est, lo, hi, v.size))
        return rows

    def figure(self, view: FigureView):
        from remit.report import plots

        return plots.proportion_figure(view.endpoints, self.name, self.label, view.order)

    def arm_data(self, records: Records, patients: pd.DataFrame, year: int | None) -> dict[str, np.ndarray]:
        v = records.outcome(self.name, patients)[float(year)].to_numpy(dtype=float)
        return {"v": np.where(np.isfinite(v), (v >= 0.5).astype(float), np.nan)}

    def analyse(self, a0: dict, a1: dict) -> tuple[float, float]:
        return two_proportion_test(a0["v"], a1["v"])


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
