"""The rate of change of a score: each patient's least-squares slope over the report visits.

Trials of progressive disease report it as their primary endpoint where a change from baseline
at one visit is too noisy (annual FVC decline in scleroderma lung disease, EDSS slope in MS):
every visit a patient attended counts, and a patient lost early still contributes the visits
before. The slope is that of the patient's own values against time (ordinary least squares, per
year), from baseline and every report visit with a value; the arm's estimate is the mean slope
with a Student-t 95% CI, and each arm is compared with the control by the Welch difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from remit.endpoints.base import ENDPOINT_KINDS, EndpointKind, FigureView, Records, comparison_label, row
from remit.endpoints.intervals import mean_t_interval
from remit.endpoints.visits import welch_difference, welch_test

MIN_VISITS = 2  # a slope needs two visits with a value (baseline is one)


def patient_slopes(wide: pd.DataFrame) -> np.ndarray:
    """Per-row least-squares slope (per year) of a (patients x visit times in years) frame, over
    the visits with a finite value; NaN with fewer than :data:`MIN_VISITS` of them."""
    y = wide.to_numpy(dtype=float)
    t = np.broadcast_to(np.asarray(wide.columns, dtype=float), y.shape)
    ok = np.isfinite(y)
    k = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_mean = np.where(ok, t, 0.0).sum(axis=1) / k
        y_mean = np.where(ok, y, 0.0).sum(axis=1) / k
        dt = np.where(ok, t - t_mean[:, None], 0.0)
        sxx = (dt * dt).sum(axis=1)
        sxy = (dt * np.where(ok, y - y_mean[:, None], 0.0)).sum(axis=1)
        slope = sxy / sxx
    return np.where((k >= MIN_VISITS) & (sxx > 0), slope, np.nan)


@ENDPOINT_KINDS.register("slope")
@dataclass(frozen=True)
class Slope(EndpointKind):
    """Slope of the outcome rows ``score`` (a Score of the same disease) over the report visits.

    Endpoints ``{name}`` (mean per-patient slope, per year, Student-t 95% CI, at the end of
    follow-up) and ``{name}_difference`` (arm minus control, Welch).
    """

    name: str
    label: str
    score: str
    unit: str
    lower_is_better: bool = True
    definition: str = ""

    kind = "slope"
    section = "slope"
    test_name = "Welch t test"
    effect_name = "difference in mean slope"
    summary = "slope of a score over the visits (mean per-patient least-squares slope)"

    def labels(self) -> dict[str, str]:
        return {self.name: f"{self.label} ({self.unit})",
                f"{self.name}_difference": f"Difference in {self.label.lower()} ({self.unit}, Welch)"}

    def digits(self) -> dict[str, int]:
        return {n: 3 for n in self.labels()}

    def row_types(self) -> dict[str, str]:
        return {self.name: "mean", f"{self.name}_difference": "other"}

    def timepoints(self, follow_up_years: float) -> dict[str, float | None]:
        return {self.name: float(follow_up_years)}

    def slopes(self, records: Records, patients: pd.DataFrame) -> np.ndarray:
        return patient_slopes(records.outcome(self.score, patients))

    def rows(self, records: Records) -> list[dict]:
        fu = records.follow_up_years
        slopes = {arm: self.slopes(records, records.arm(arm)) for arm in records.arms}
        rows = [row(arm, self.name, fu, *mean_t_interval(s)) for arm, s in slopes.items()]
        control = slopes[records.control_arm] if records.control_arm in slopes else None
        for arm in records.comparisons if control is not None else ():
            rows.append(row(comparison_label(arm, records.control_arm), f"{self.name}_difference", fu,
                            *welch_difference(slopes[arm], control)))
        return rows

    def figure(self, view: FigureView):
        from remit.report import plots

        return plots.rate_figure(view.endpoints, self.name, self.title(), view.order, ylabel=self.unit,
                                 per=self.unit)

    def arm_data(self, records: Records, patients: pd.DataFrame, year: int | None) -> dict[str, np.ndarray]:
        return {"v": self.slopes(records, patients)}

    def analyse(self, a0: dict, a1: dict) -> tuple[float, float]:
        return welch_test(a0["v"], a1["v"])
