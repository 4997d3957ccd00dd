"""A patient with diffuse cutaneous systemic sclerosis, as described to ``remit predict``: skin
score, lung and heart function, pulmonary hypertension; their default options, twins and
guideline warnings."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from remit.diseases.patient import Match, Outcomes, PatientSpec, field_info
from remit.guidelines import ASTIS, BURT_2013, CAR_T_SERIES, EBMT_2012, SCOT, Warning
from remit.schema.types import CHOICE, Range
from remit.therapies import options as opt


class SscPatient(PatientSpec):
    """Diffuse cutaneous systemic sclerosis: skin score, lung and heart function, pulmonary hypertension."""

    DISEASE: ClassVar[str] = "systemic_sclerosis"
    OUTCOMES: ClassVar[Outcomes] = Outcomes("event", "mrss_response", "mrss", "event")
    EXAMPLE: ClassVar[dict] = {"disease": "systemic_sclerosis", "age": 45, "sex": "female", "disease_duration_years": 1.5,
                               "mrss": 25, "fvc_percent_predicted": 75, "dlco_percent_predicted": 60, "lvef_percent": 60}

    disease: Annotated[Literal["systemic_sclerosis"], CHOICE] = "systemic_sclerosis"
    mrss: Annotated[float, Range(0, 51)] = Field(**field_info("mRSS points", "Modified Rodnan skin score", 1))
    fvc_percent_predicted: Annotated[float, Range(15, 150)] = Field(**field_info("% predicted", "FVC"))
    dlco_percent_predicted: Annotated[float, Range(10, 150)] | None = Field(
        default=None, **field_info("% predicted", "DLCO (warnings only)"))
    lvef_percent: Annotated[float, Range(10, 80)] = Field(**field_info("%", "Left-ventricular ejection fraction"))
    cardiac_involvement: bool = Field(default=False, **field_info("", "Primary cardiac involvement"))
    pulmonary_hypertension: bool = Field(default=False, **field_info("", "Pulmonary hypertension (warnings only)"))

    def options(self) -> list[opt.Option]:
        bg = tuple(self.prior_treatments)
        return [
            opt.ahsct("ahsct-cy-atg", "aHSCT, Cy 200 mg/kg + ATG, CD34-selected PBSC", opt.MOB_CY4, opt.PBSC_SEL,
                      opt.CY_ATG_75, "non-myeloablative (ASTIS, van Laar et al. 2014 JAMA 311:2490)"),
            opt.ahsct("ahsct-tbi-cy-atg", "aHSCT, TBI 8 Gy + Cy + ATG, CD34-selected PBSC", opt.MOB_CY4, opt.PBSC_SEL,
                      opt.TBI_CY_ATG, "myeloablative (SCOT-like, Sullivan et al. 2018 NEJM 378:35)"),
            opt.msc("msc-iv", "MSC, umbilical cord, 1e6 cells/kg IV", "umbilical_cord", 1.0e6, "intravenous", 1, None, bg),
            opt.cd19_car_t(),
            opt.conventional("mycophenolate", "Mycophenolate", ["mycophenolate"]),
            opt.conventional("cyclophosphamide-iv", "IV cyclophosphamide (12 monthly pulses)", ["cyclophosphamide_iv"]),
        ]

    def population(self) -> dict:
        return {**super().population(), "cardiac_involvement_fraction": 1.0 if self.cardiac_involvement else 0.0,
                "prior_therapy": list(self.prior_treatments), "fvc": {"min": 0, "max": 150}, "lvef": {"min": 0, "max": 100}}

    def history_matches(self) -> list[Match]:
        m = [Match("mrss_baseline", self.mrss, 4.0, "mRSS"), Match("fvc_baseline", self.fvc_percent_predicted, 8.0, "FVC")]
        if self.cardiac_involvement or self.lvef_percent < 50:
            m.append(Match("lvef_baseline", self.lvef_percent, 6.0, "LVEF"))
        return m

    def warnings(self, option_ids: set[str]) -> list[Warning]:
        w: list[Warning] = []
        if self.lvef_percent < 45:
            w.append(Warning("contraindication", f"LVEF {self.lvef_percent:g}%: severe cardiac dysfunction (LVEF below "
                             "about 45%) excluded patients from the randomised aHSCT trials.", f"{ASTIS}; {SCOT}"))
        if self.cardiac_involvement:
            w.append(Warning("caution", "Primary cardiac involvement: most treatment-related deaths after aHSCT in SSc "
                             "were cardiac; detailed cardiopulmonary screening (echocardiography, cardiac MRI, right "
                             "heart catheterisation) is required.", f"{BURT_2013}; {EBMT_2012}"))
        if self.pulmonary_hypertension:
            w.append(Warning("contraindication", "Pulmonary hypertension: significant pulmonary arterial hypertension "
                             "excluded patients from the aHSCT trials.", f"{ASTIS}; {SCOT}"))
        if self.fvc_percent_predicted < 50:
            w.append(Warning("contraindication", f"FVC {self.fvc_percent_predicted:g}% predicted: severe restrictive "
                             "lung disease (FVC below about 45-50% predicted) excluded patients from the aHSCT trials.",
                             f"{SCOT}; {EBMT_2012}"))
        if self.dlco_percent_predicted is not None and self.dlco_percent_predicted < 40:
            w.append(Warning("contraindication", f"DLCO {self.dlco_percent_predicted:g}% predicted: DLCO below about 40% "
                             "predicted excluded patients from the aHSCT trials.", f"{ASTIS}; {SCOT}"))
        if self.disease_duration_years > 5:
            w.append(Warning("note", f"Disease duration {self.disease_duration_years:g} years: the trials enrolled early "
                             "diffuse disease (about 4-5 years from the first non-Raynaud symptom).", f"{ASTIS}; {SCOT}"))
        if self.disease_duration_years > 5 or self.mrss < 15:
            w.append(Warning("note", "The published CD19 CAR-T series in SSc treated early diffuse disease (1.5-2 years, "
                             "mRSS 24-32) refractory to standard treatment; this patient lies outside them.",
                             CAR_T_SERIES, ("car_t",)))
        if any(i.startswith("ahsct-tbi") for i in option_ids):
            w.append(Warning("note", "Myeloablative (TBI-based) conditioning requires lung and kidney shielding and "
                             "stricter organ-function criteria.", SCOT, (), ("ahsct-tbi-cy-atg",)))
        return w
