"""Eligibility and safety warnings from published consensus, each citing its source.

The rules that concern any transplant candidate are here; each disease's own rules are its
patient's :meth:`~remit.diseases.patient.PatientSpec.warnings`, citing the sources below.

The rules paraphrase consensus statements and trial eligibility criteria; thresholds are
the approximate values those documents give ("about"), not bright lines, and the warnings
inform a clinician's judgement rather than replace it. Sources:

- EBMT guidelines for HSCT in autoimmune disease: Snowden JA et al. 2012 Bone Marrow
  Transplant 47:770 (updated guidelines of the EBMT).
- MS: Sharrack B et al. 2020 Bone Marrow Transplant 55:283 (EBMT Autoimmune Diseases Working
  Party (ADWP) and JACIE recommendations for aHSCT in MS); Muraro PA et al. 2017 JAMA Neurol
  74:459 (long-term outcomes; transplant-related mortality higher with older age and higher
  EDSS, less benefit in progressive disease); Burt RK et al. 2019 JAMA 321:165 (MIST).
- SSc: van Laar JM et al. 2014 JAMA 311:2490 (ASTIS); Sullivan KM et al. 2018 NEJM 378:35
  (SCOT); Burt RK et al. 2013 Lancet 381:1116 (cardiac involvement and transplant-related
  mortality).
- Crohn's disease: Hawkey CJ et al. 2015 JAMA 314:2524 (ASTIC).
- Type 1 diabetes: Voltarelli JC et al. 2007 JAMA 297:1568.
- RA: Snowden JA et al. 2004 (EBMT/ABMTR registry, evidence id ra-snowden-2004-ebmt-abmtr).
- MSC: the trials in the evidence store; Lalu MM et al. 2012 PLoS One 7:e47559 (SafeCell
  meta-analysis of MSC safety).
- CAR-T: Mackensen A et al. 2022 Nat Med 28:2124 and Muller F et al. 2024 NEJM 390:687 (the Erlangen
  CD19 CAR-T series in SLE, myositis and SSc), the evidence records of remit.therapies.car_t.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Level = Literal["contraindication", "caution", "note"]

EBMT_2012 = "Snowden JA et al. 2012 Bone Marrow Transplant 47:770 (EBMT guidelines for HSCT in autoimmune disease)"
EBMT_MS_2020 = ("Sharrack B et al. 2020 Bone Marrow Transplant 55:283 (EBMT Autoimmune Diseases Working Party "
                "recommendations for aHSCT in MS)")
MURARO_2017 = "Muraro PA et al. 2017 JAMA Neurol 74:459 (long-term outcomes of aHSCT in MS)"
ASTIS = "van Laar JM et al. 2014 JAMA 311:2490 (ASTIS eligibility criteria)"
SCOT = "Sullivan KM et al. 2018 NEJM 378:35 (SCOT eligibility criteria)"
BURT_2013 = "Burt RK et al. 2013 Lancet 381:1116 (cardiac involvement and treatment-related mortality in SSc)"
ASTIC = "Hawkey CJ et al. 2015 JAMA 314:2524 (ASTIC)"
VOLTARELLI = "Voltarelli JC et al. 2007 JAMA 297:1568"
SAFECELL = "Lalu MM et al. 2012 PLoS One 7:e47559 (SafeCell meta-analysis)"
EBMT_900 = ("EBMT Autoimmune Diseases Working Party registry, 900 patients over 12 years (evidence id "
            "safety-ebmt-900-2010)")
CAR_T_SERIES = ("Mackensen A et al. 2022 Nat Med 28:2124; Muller F et al. 2024 NEJM 390:687 (CD19 CAR-T case series "
                "in autoimmune disease)")
MODEL = "remit model (calibrated defaults where shipped, docs/calibration.md)"


@dataclass(frozen=True)
class Warning:
    level: Level
    message: str
    source: str
    kinds: tuple[str, ...] = ("ahsct",)  # option kinds it applies to; () = the patient as a whole
    options: tuple[str, ...] = field(default=())  # or specific option ids

    def applies_to(self, option) -> bool:
        return option.kind in self.kinds or option.id in self.options

    def to_dict(self) -> dict:
        return {"level": self.level, "message": self.message, "source": self.source,
                "applies_to": list(self.kinds) + list(self.options)}


def parameter_note(disease: str, parameters: str | None = None) -> str:
    """One sentence on the parameter values behind a prediction for ``disease`` (the model note, the web page
    footer): ``parameters``, the label of the prediction's parameter source (None: the default source, which
    takes the calibrated quantities from the posterior of the calibration remit ships for the disease, where it
    ships one), and whether a calibration is shipped (:mod:`remit.calibration.shipped`)."""
    from remit.calibration import shipped

    if parameters is None:
        from remit.uncertainty import default_parameter_source

        parameters = default_parameter_source(disease).label
    doc = shipped.load(disease)
    shipped_text = (f"the calibration remit ships for this disease was fitted to {shipped.fitted_trials(doc)}"
                    if doc is not None else
                    "remit ships no calibration for this disease, so its typical values are the literature values")
    return f"Parameter values: {parameters}; {shipped_text}."


def warnings_for(patient, options=(), parameters: str | None = None) -> list[Warning]:
    """The warnings that apply to this patient (and, for option-specific ones, to the options given);
    ``parameters``: the label of the prediction's parameter source (None: the default one)."""
    w: list[Warning] = []
    age = patient.age
    com = set(patient.comorbidities)
    ids = {o.id for o in options}

    # --- general aHSCT suitability (EBMT) ---------------------------------------------------
    if "active_infection" in com:
        w.append(Warning("contraindication", "Active or uncontrolled infection: aHSCT must be deferred until it is "
                         "controlled.", EBMT_2012))
    if "pregnancy" in com:
        w.append(Warning("contraindication", "Pregnancy excludes high-dose chemotherapy and aHSCT.", EBMT_2012,
                         ("ahsct",)))
    if "prior_malignancy" in com:
        w.append(Warning("caution", "Previous malignancy: eligibility for aHSCT needs specialist review.", EBMT_2012))
    if "cardiac_disease" in com:
        w.append(Warning("caution", "Cardiac disease: full cardiac assessment is required before aHSCT; "
                         "cardiac toxicity of cyclophosphamide-based conditioning is a recognised cause of "
                         "transplant-related death.", EBMT_2012))
    if "renal_impairment" in com or "liver_disease" in com:
        w.append(Warning("caution", "Significant renal or hepatic impairment raises the toxicity of conditioning; "
                         "organ function must meet transplant criteria.", EBMT_2012))
    if age >= 65:
        w.append(Warning("caution", f"Age {age:g}: transplant-related mortality rises with age; aHSCT for "
                         "autoimmune disease is rarely offered at this age.", EBMT_2012))

    # --- disease-specific (the patient's own rules) -------------------------------------------
    w += patient.warnings(ids)

    # --- MSC and the model itself -------------------------------------------------------------
    w.append(Warning("note", "MSC therapy is investigational for this indication; infusions have been safe in "
                     "trials (transient fever), but efficacy rests on small studies.", SAFECELL, ("msc",)))
    w.append(Warning("caution", "CD19 CAR-T is investigational in autoimmune disease: the evidence is case series of "
                     "tens of patients with short follow-up. Expect cytokine release syndrome (mostly grade 1 in these "
                     "series), rarely ICANS, and months of B-cell aplasia with its infection risk; patients stopped "
                     "their immunosuppression before lymphodepletion.", CAR_T_SERIES, ("car_t",)))
    w.append(Warning("note", f"{parameter_note(patient.DISEASE, parameters)} Intervals show model uncertainty under these values, "
                     "not validated clinical accuracy. Not for clinical decisions.", MODEL, ()))
    if options:  # only what concerns the patient as a whole or one of the options compared
        w = [x for x in w if (not x.kinds and not x.options) or any(x.applies_to(o) for o in options)]
    return w
