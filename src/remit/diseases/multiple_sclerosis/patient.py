"""A patient with multiple sclerosis, as described to ``remit predict``: course, EDSS, relapses and
new MRI lesions in the past year; their default options, twins and guideline warnings."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator
from scipy import stats

from remit.diseases.patient import Match, Outcomes, PatientSpec, field_info
from remit.guidelines import EBMT_MS_2020, MURARO_2017, Warning
from remit.schema.types import CHOICE, Range, fail
from remit.therapies import options as opt


class MsPatient(PatientSpec):
    """Multiple sclerosis: course, EDSS (0-9.5 in 0.5 steps), relapses and new MRI lesions in the past year."""

    DISEASE: ClassVar[str] = "multiple_sclerosis"
    OUTCOMES: ClassVar[Outcomes] = Outcomes("progression", "neda3", "edss", "progression")
    EXAMPLE: ClassVar[dict] = {"disease": "multiple_sclerosis", "age": 30, "sex": "female", "disease_duration_years": 4,
                               "course": "relapsing_remitting", "edss": 3.0, "relapses_prior_year": 2,
                               "new_lesions_prior_year": 3, "prior_treatments": ["interferon_beta"]}

    disease: Annotated[Literal["multiple_sclerosis"], CHOICE] = "multiple_sclerosis"
    course: Annotated[Literal["relapsing_remitting", "secondary_progressive", "primary_progressive"], CHOICE] = Field(
        **field_info("", "Course"))
    edss: Annotated[float, Range(0, 9.5)] = Field(**field_info("EDSS points", "EDSS", 0.5))
    relapses_prior_year: Annotated[int, Range(0, 20)] = Field(**field_info("relapses", "Relapses in the past year"))
    new_lesions_prior_year: Annotated[int, Range(0, 50)] | None = Field(
        default=None, **field_info("lesions", "New or enlarging T2 / gadolinium-enhancing MRI lesions in the past year"))

    @model_validator(mode="after")
    def _steps(self) -> "MsPatient":
        if abs(self.edss * 2 - round(self.edss * 2)) > 1e-9:
            raise fail("must be on the EDSS scale (steps of 0.5 EDSS points)", at=("edss",), value=self.edss)
        return self

    def options(self) -> list[opt.Option]:
        bg = tuple(self.prior_treatments)
        return [
            opt.ahsct("ahsct-cy-atg", "aHSCT, Cy 200 mg/kg + ATG, unselected PBSC", opt.MOB_CY2, opt.PBSC, opt.CY_ATG,
                      "non-myeloablative (MIST, Burt et al. 2019 JAMA 321:165)"),
            opt.ahsct("ahsct-beam-atg", "aHSCT, BEAM + ATG, CD34-selected PBSC", opt.MOB_CY2, opt.PBSC_SEL, opt.BEAM_ATG,
                      "intermediate intensity (EBMT practice)"),
            opt.msc("msc-iv", "MSC, bone marrow, 2e6 cells/kg IV", "bone_marrow", 2.0e6, "intravenous", 1, None, bg),
            opt.conventional("natalizumab", "Natalizumab", ["natalizumab"]),
            opt.conventional("interferon-beta", "Interferon beta", ["interferon_beta"]),
        ]

    def population(self) -> dict:
        return {**super().population(), "course": self.course, "prior_dmt": list(self.prior_treatments)}

    def history_matches(self) -> list[Match]:
        r = self.relapses_prior_year
        return [Match("edss_baseline", self.edss, 0.5, "EDSS"),
                Match("relapses_prior_year", r, 0.0 if r <= 2 else 1.0, "relapses in the past year", widen=r > 2)]

    def history_likelihood(self, model, t, traj, P) -> np.ndarray | None:
        """New MRI lesions enter as a likelihood: a candidate whose simulated yearly count of detected
        new lesions is ``m`` is kept with probability ``Poisson(k | m) / max_j Poisson(j | m)``."""
        if self.new_lesions_prior_year is None:
            return None
        i_year = max(0, len(t) - 13)
        new = np.maximum(traj["cum_attack"][:, -1] - traj["cum_attack"][:, i_year], 0.0)
        mu = new * P[:, model.parameter_index("mri_detection")]
        k = self.new_lesions_prior_year
        mode = np.floor(mu)
        keep = np.exp(stats.poisson.logpmf(k, mu) - stats.poisson.logpmf(mode, mu))
        return np.where(mu > 0, keep, float(k == 0))

    def likelihood_terms(self) -> list[dict]:
        if self.new_lesions_prior_year is None:
            return []
        return [{"column": "new_lesions_prior_year", "target": self.new_lesions_prior_year,
                 "tolerance": "Poisson likelihood", "label": "new MRI lesions"}]

    def warnings(self, option_ids: set[str]) -> list[Warning]:
        w: list[Warning] = []
        inflammatory = self.relapses_prior_year >= 1 or (self.new_lesions_prior_year or 0) >= 1
        course = self.course.replace('_', ' ').capitalize()
        if self.course != "relapsing_remitting":
            if inflammatory:
                w.append(Warning("caution", f"{course} MS with inflammatory activity: "
                                 "aHSCT is a clinical option only; benefit is smaller than in relapsing-remitting MS.",
                                 EBMT_MS_2020))
            else:
                w.append(Warning("contraindication", f"{course} MS without recent "
                                 "inflammatory activity (no relapse or new MRI lesion in the past year): aHSCT is "
                                 "generally not recommended; little benefit is expected.", EBMT_MS_2020))
        if self.edss > 6.0:
            w.append(Warning("caution", f"EDSS {self.edss:g}: aHSCT is favoured in ambulatory patients with EDSS up to "
                             "about 6; higher disability carries higher transplant-related mortality and less benefit.",
                             f"{EBMT_MS_2020}; {MURARO_2017}"))
        if self.age > 50:
            w.append(Warning("caution", f"Age {self.age:g}: aHSCT in MS is favoured in younger patients (typically under "
                             "about 45-50 years); transplant-related mortality was associated with older age.",
                             f"{EBMT_MS_2020}; {MURARO_2017}"))
        elif self.age > 45:
            w.append(Warning("note", f"Age {self.age:g}: near the upper age usually considered for aHSCT in MS "
                             "(about 45-50 years).", EBMT_MS_2020))
        if self.disease_duration_years > 10:
            w.append(Warning("note", f"Disease duration {self.disease_duration_years:g} years: outcomes of aHSCT are "
                             "better with shorter disease duration (about 10 years or less).", EBMT_MS_2020))
        if self.course == "relapsing_remitting" and inflammatory and self.edss <= 6.0 and self.age <= 50:
            if len(self.prior_treatments) >= 1 and self.relapses_prior_year >= 1:
                w.append(Warning("note", "Highly active relapsing MS despite disease-modifying therapy: the setting "
                                 "in which the EBMT recommends aHSCT as a treatment option.", EBMT_MS_2020))
        return w
