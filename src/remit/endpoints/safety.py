"""The endpoints every trial reports, whatever its disease: mortality (treatment-related by day
100 and at each report visit, all-cause at each visit and over follow-up), immune recovery
(neutrophil engraftment, CD4+ counts at the visits, severe infections) and, in a trial with a
CAR-T arm, the CAR-T toxicities and B-cell aplasia (every arm: an arm without CAR-T has none)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from remit.endpoints.base import EndpointKind, Records, flags, row
from remit.endpoints.intervals import mean_t_interval, median_order_statistic_ci, proportion_ci

YEAR = 365.25
# Treatment-related mortality is reported at day 100 (the usual transplant milestone) and at every visit.
DAY_100_YEARS = 100.0 / YEAR


@dataclass(frozen=True)
class Mortality(EndpointKind):
    """Deaths: patient columns ``died``, ``death_time_years`` and ``treatment_related_death``.

    Endpoints ``treatment_related_mortality`` (at day 100 and each report visit) and
    ``all_cause_mortality`` (at each visit and at the end of follow-up), each a cumulative
    proportion of the arm with a Clopper-Pearson 95% CI.
    """

    name: str = "mortality"
    label: str = "Mortality"
    definition: str = "Deaths among all randomised patients of the arm (Clopper-Pearson 95% CI)"

    def labels(self) -> dict[str, str]:
        return {"treatment_related_mortality": "Treatment-related mortality", "all_cause_mortality": "All-cause mortality"}

    def digits(self) -> dict[str, int]:
        return {"treatment_related_mortality": 4, "all_cause_mortality": 4}

    def row_types(self) -> dict[str, str]:
        return {n: "proportion" for n in self.names()}

    def timepoints(self, follow_up_years: float) -> dict[str, float | None]:
        return {"treatment_related_mortality": min(1.0, float(follow_up_years)),
                "all_cause_mortality": float(follow_up_years)}

    def rows(self, records: Records) -> list[dict]:
        rows = []
        fu = records.follow_up_years
        visits = records.report_visits
        trm_at = sorted([DAY_100_YEARS, *(t for t in visits if abs(t - DAY_100_YEARS) > 1e-9)])
        for arm in records.arms:
            df = records.arm(arm)
            n = len(df)
            death_t = df["death_time_years"].to_numpy(dtype=float)
            died = flags(df["died"])
            trd = flags(df["treatment_related_death"]) & died
            for t in (t for t in trm_at if t <= fu + 1e-9):
                k = int((trd & (death_t <= t + 1e-12)).sum())
                rows.append(row(arm, "treatment_related_mortality", t, *proportion_ci(k, n, "exact"), n))
            for t in visits:
                if abs(t - fu) > 1e-9:
                    k = int((died & (death_t <= t + 1e-12)).sum())
                    rows.append(row(arm, "all_cause_mortality", t, *proportion_ci(k, n, "exact"), n))
            # A death flagged without a time still counts: it happened during follow-up.
            k_all = int((died & ~(death_t > fu + 1e-12)).sum())
            rows.append(row(arm, "all_cause_mortality", fu, *proportion_ci(k_all, n, "exact"), n))
        return rows


@dataclass(frozen=True)
class ImmuneRecovery(EndpointKind):
    """Immune reconstitution and its cost: patient columns ``engraftment_day`` (days from graft),
    ``n_severe_infections`` (count), and the outcome rows ``cd4`` (cells/uL).

    Endpoints ``engraftment_day_median`` and ``cd4_median`` (at each report visit; order-statistic
    95% CIs) and
    ``severe_infections_per_patient`` (Student-t 95% CI).
    """

    name: str = "immune_recovery"
    label: str = "Immune recovery"
    definition: str = "Neutrophil engraftment, CD4+ recovery and severe infections"

    def labels(self) -> dict[str, str]:
        return {"engraftment_day_median": "Median neutrophil engraftment day", "cd4_median": "Median CD4+ (cells/uL)",
                "severe_infections_per_patient": "Severe infections per patient"}

    def digits(self) -> dict[str, int]:
        return {"engraftment_day_median": 1, "cd4_median": 0, "severe_infections_per_patient": 2}

    def timepoints(self, follow_up_years: float) -> dict[str, float | None]:
        return {"engraftment_day_median": float(follow_up_years), "severe_infections_per_patient": float(follow_up_years)}

    def rows(self, records: Records) -> list[dict]:
        rows = []
        fu = records.follow_up_years
        cd4 = records.has("cd4")
        for arm in records.arms:
            df = records.arm(arm)
            if "engraftment_day" in df.columns and df["engraftment_day"].notna().any():
                rows.append(row(arm, "engraftment_day_median", fu, *_median(df["engraftment_day"])))
            if cd4:
                wide = records.outcome("cd4", df)
                for t in wide.columns:
                    if t > 0 and wide[t].notna().any():
                        rows.append(row(arm, "cd4_median", t, *_median(wide[t])))
            if "n_severe_infections" in df.columns:
                m, lo, hi, n = mean_t_interval(df["n_severe_infections"])
                rows.append(row(arm, "severe_infections_per_patient", fu, m, lo, hi, n))
        return rows


def _median(values) -> tuple[float, float, float, int]:
    return median_order_statistic_ci(np.asarray(values, dtype=float))


@dataclass(frozen=True)
class CarTToxicity(EndpointKind):
    """Cytokine release syndrome, ICANS, B-cell aplasia and serum IgG: patient columns ``crs_grade`` and
    ``icans_grade`` (ASTCT grades 0-4), ``b_cell_return_day`` (days from the CAR-T infusion to B cells
    reappearing; NaN if they had not), ``igg_nadir`` (lowest serum IgG, g/L) and
    ``hypogammaglobulinaemia`` (that nadir below 4 g/L). Written only for trials with a CAR-T arm, for
    every arm (:mod:`remit.therapies.car_t.observe`).

    Endpoints ``crs_any_grade``, ``crs_grade_2_plus``, ``crs_grade_3_plus``, ``icans_any_grade``,
    ``icans_grade_3_plus`` and ``hypogammaglobulinaemia`` (proportions of the arm, Clopper-Pearson 95% CI),
    ``b_cell_return_day_mean`` (mean over patients whose B cells returned) and ``igg_nadir_mean`` (mean
    over the arm; Student-t 95% CIs), each at the end of follow-up.
    """

    name: str = "car_t_toxicity"
    label: str = "CAR-T toxicity and B-cell aplasia"
    definition: str = ("Cytokine release syndrome and ICANS by ASTCT grade, and serum IgG below 4 g/L at any time, "
                       "among all randomised patients of the arm (Clopper-Pearson 95% CI); days from the CAR-T "
                       "infusion to the return of B cells; lowest serum IgG")

    GRADES = (("crs_any_grade", "crs_grade", 1), ("crs_grade_2_plus", "crs_grade", 2),
              ("crs_grade_3_plus", "crs_grade", 3), ("icans_any_grade", "icans_grade", 1),
              ("icans_grade_3_plus", "icans_grade", 3), ("hypogammaglobulinaemia", "hypogammaglobulinaemia", 1))
    MEANS = (("b_cell_return_day_mean", "b_cell_return_day", 0), ("igg_nadir_mean", "igg_nadir", 1))

    def labels(self) -> dict[str, str]:
        return {"crs_any_grade": "Cytokine release syndrome, any grade", "crs_grade_2_plus": "CRS grade 2 or more",
                "crs_grade_3_plus": "CRS grade 3 or more", "icans_any_grade": "ICANS, any grade",
                "icans_grade_3_plus": "ICANS grade 3 or more",
                "hypogammaglobulinaemia": "Hypogammaglobulinaemia (serum IgG below 4 g/L)",
                "b_cell_return_day_mean": "Mean day of B-cell return after the CAR-T infusion",
                "igg_nadir_mean": "Mean lowest serum IgG (g/L)"}

    def digits(self) -> dict[str, int]:
        return {**{n: 3 for n, _, _ in self.GRADES}, **{n: d for n, _, d in self.MEANS}}

    def row_types(self) -> dict[str, str]:
        return {**{n: "proportion" for n, _, _ in self.GRADES}, **{n: "mean" for n, _, _ in self.MEANS}}

    def timepoints(self, follow_up_years: float) -> dict[str, float | None]:
        return {n: float(follow_up_years) for n in self.names()}

    def rows(self, records: Records) -> list[dict]:
        rows = []
        fu = records.follow_up_years
        if "crs_grade" not in records.patients.columns:  # a trial without a CAR-T arm
            return rows
        for arm in records.arms:
            df = records.arm(arm)
            n = len(df)
            for name, column, grade in self.GRADES:
                g = df[column].to_numpy(dtype=float)
                rows.append(row(arm, name, fu, *proportion_ci(int((g >= grade).sum()), n, "exact"), n))
            for name, column, _ in self.MEANS:
                x = df[column].dropna()
                if len(x):
                    rows.append(row(arm, name, fu, *mean_t_interval(x)))
        return rows


SHARED: tuple[EndpointKind, ...] = (Mortality(), ImmuneRecovery(), CarTToxicity())
