"""A patient with new-onset type 1 diabetes, as described to ``remit predict``: stimulated
C-peptide, GAD65 antibodies, ketoacidosis at diagnosis; their default options, twins and
guideline warnings."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from remit.diseases.patient import Match, Outcomes, PatientSpec, field_info
from remit.guidelines import EBMT_2012, VOLTARELLI, Warning
from remit.schema.types import CHOICE, Range
from remit.therapies import options as opt


class T1dPatient(PatientSpec):
    """Type 1 diabetes: stimulated C-peptide, GAD65 antibodies, ketoacidosis at diagnosis."""

    DISEASE: ClassVar[str] = "type1_diabetes"
    OUTCOMES: ClassVar[Outcomes] = Outcomes(None, "insulin_independent", "c_peptide", "insulin_independent")
    EXAMPLE: ClassVar[dict] = {"disease": "type1_diabetes", "age": 20, "sex": "male", "disease_duration_years": 0.08,
                               "c_peptide_nmol_per_l": 0.6, "gad_positive": True, "prior_treatments": ["insulin"]}

    disease: Annotated[Literal["type1_diabetes"], CHOICE] = "type1_diabetes"
    c_peptide_nmol_per_l: Annotated[float, Range(0, 5)] = Field(**field_info("nmol/L", "Stimulated C-peptide", 0.01))
    gad_positive: bool = Field(default=True, **field_info("", "GAD65 antibodies positive"))
    dka_at_diagnosis: bool = Field(default=False, **field_info("", "Ketoacidosis at diagnosis"))

    def options(self) -> list[opt.Option]:
        bg = tuple(self.prior_treatments)
        return [
            opt.ahsct("ahsct-cy-atg", "aHSCT, Cy 200 mg/kg + ATG, unselected PBSC", opt.MOB_CY2, opt.PBSC,
                      {**opt.CY_ATG, "atg_mg_per_kg": 4.5}, "Voltarelli et al. 2007 JAMA 297:1568"),
            opt.msc("msc-iv", "MSC, umbilical cord, 1e6 cells/kg IV", "umbilical_cord", 1.0e6, "intravenous", 1, None,
                    bg or ("insulin",)),
            opt.conventional("insulin", "Intensive insulin", ["insulin"]),
        ]

    def population(self) -> dict:
        return {**super().population(), "prior_therapy": list(self.prior_treatments), "gad_positive": False,
                "exclude_dka_at_diagnosis": False}

    def history_matches(self) -> list[Match]:
        c = self.c_peptide_nmol_per_l
        return [Match("c_peptide_baseline", c, max(0.15, 0.25 * c), "C-peptide"),
                Match("gad_positive", float(self.gad_positive), 0.0, "GAD65 antibodies", widen=False),
                Match("dka_at_diagnosis", float(self.dka_at_diagnosis), 0.0, "ketoacidosis at diagnosis", widen=False)]

    def warnings(self, option_ids: set[str]) -> list[Warning]:
        w: list[Warning] = []
        if self.disease_duration_years > 6 / 52.18 + 1e-9:
            w.append(Warning("caution", "The published aHSCT experience in type 1 diabetes enrolled patients within "
                             "about 6 weeks of diagnosis; later, less beta-cell mass remains to be preserved.",
                             VOLTARELLI))
        if self.dka_at_diagnosis:
            w.append(Warning("caution", "Ketoacidosis at diagnosis: the only patient who failed to become "
                             "insulin-free in the first protocol had presented in ketoacidosis, which was "
                             "excluded thereafter.", VOLTARELLI))
        if not self.gad_positive:
            w.append(Warning("note", "GAD65 antibodies negative: the trials enrolled antibody-positive patients.",
                             VOLTARELLI))
        w.append(Warning("note", "aHSCT in type 1 diabetes is experimental and is not recommended outside "
                         "clinical research protocols.", EBMT_2012))
        return w
