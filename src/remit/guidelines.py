"""Eligibility and safety warnings from published consensus, each citing its source.

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
        from remit.predict import default_parameter_source

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
    d = patient.DISEASE
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

    # --- disease-specific --------------------------------------------------------------------
    if d == "multiple_sclerosis":
        w += _ms(patient)
    elif d == "systemic_sclerosis":
        w += _ssc(patient, ids)
    elif d == "crohns_disease":
        w.append(Warning("caution", "aHSCT in refractory Crohn's disease had substantial toxicity (one death among "
                         "the transplanted patients) and did not meet its primary endpoint; the trial authors "
                         "advised against its wide use.", ASTIC))
    elif d == "type1_diabetes":
        if patient.disease_duration_years > 6 / 52.18 + 1e-9:
            w.append(Warning("caution", "The published aHSCT experience in type 1 diabetes enrolled patients within "
                             "about 6 weeks of diagnosis; later, less beta-cell mass remains to be preserved.",
                             VOLTARELLI))
        if patient.dka_at_diagnosis:
            w.append(Warning("caution", "Ketoacidosis at diagnosis: the only patient who failed to become "
                             "insulin-free in the first protocol had presented in ketoacidosis, which was "
                             "excluded thereafter.", VOLTARELLI))
        if not patient.gad_positive:
            w.append(Warning("note", "GAD65 antibodies negative: the trials enrolled antibody-positive patients.",
                             VOLTARELLI))
        w.append(Warning("note", "aHSCT in type 1 diabetes is experimental and is not recommended outside "
                         "clinical research protocols.", EBMT_2012))
    elif d == "rheumatoid_arthritis":
        w.append(Warning("note", "With effective biologic and targeted drugs, aHSCT for rheumatoid arthritis is "
                         "considered only for severe disease refractory to them, within clinical studies.",
                         EBMT_2012))
    elif d == "lupus":
        w.append(Warning("caution", "Lupus had among the highest transplant-related mortality of the autoimmune "
                         "indications in the EBMT registry; aHSCT is reserved for severe refractory disease.",
                         f"{EBMT_900}; {EBMT_2012}"))

    # --- MSC and the model itself -------------------------------------------------------------
    w.append(Warning("note", "MSC therapy is investigational for this indication; infusions have been safe in "
                     "trials (transient fever), but efficacy rests on small studies.", SAFECELL, ("msc",)))
    w.append(Warning("note", f"{parameter_note(d, parameters)} Intervals show model uncertainty under these values, "
                     "not validated clinical accuracy. Not for clinical decisions.", MODEL, ()))
    if options:  # only what concerns the patient as a whole or one of the options compared
        w = [x for x in w if (not x.kinds and not x.options) or any(x.applies_to(o) for o in options)]
    return w


def _ms(p) -> list[Warning]:
    w: list[Warning] = []
    inflammatory = p.relapses_prior_year >= 1 or (p.new_lesions_prior_year or 0) >= 1
    if p.course != "relapsing_remitting":
        if inflammatory:
            w.append(Warning("caution", f"{p.course.replace('_', ' ').capitalize()} MS with inflammatory activity: "
                             "aHSCT is a clinical option only; benefit is smaller than in relapsing-remitting MS.",
                             EBMT_MS_2020))
        else:
            w.append(Warning("contraindication", f"{p.course.replace('_', ' ').capitalize()} MS without recent "
                             "inflammatory activity (no relapse or new MRI lesion in the past year): aHSCT is "
                             "generally not recommended; little benefit is expected.", EBMT_MS_2020))
    if p.edss > 6.0:
        w.append(Warning("caution", f"EDSS {p.edss:g}: aHSCT is favoured in ambulatory patients with EDSS up to "
                         "about 6; higher disability carries higher transplant-related mortality and less benefit.",
                         f"{EBMT_MS_2020}; {MURARO_2017}"))
    if p.age > 50:
        w.append(Warning("caution", f"Age {p.age:g}: aHSCT in MS is favoured in younger patients (typically under "
                         "about 45-50 years); transplant-related mortality was associated with older age.",
                         f"{EBMT_MS_2020}; {MURARO_2017}"))
    elif p.age > 45:
        w.append(Warning("note", f"Age {p.age:g}: near the upper age usually considered for aHSCT in MS "
                         "(about 45-50 years).", EBMT_MS_2020))
    if p.disease_duration_years > 10:
        w.append(Warning("note", f"Disease duration {p.disease_duration_years:g} years: outcomes of aHSCT are better "
                         "with shorter disease duration (about 10 years or less).", EBMT_MS_2020))
    if p.course == "relapsing_remitting" and inflammatory and p.edss <= 6.0 and p.age <= 50:
        if len(p.prior_treatments) >= 1 and p.relapses_prior_year >= 1:
            w.append(Warning("note", "Highly active relapsing MS despite disease-modifying therapy: the setting "
                             "in which the EBMT recommends aHSCT as a treatment option.", EBMT_MS_2020))
    return w


def _ssc(p, ids) -> list[Warning]:
    w: list[Warning] = []
    if p.lvef_percent < 45:
        w.append(Warning("contraindication", f"LVEF {p.lvef_percent:g}%: severe cardiac dysfunction (LVEF below "
                         "about 45%) excluded patients from the randomised aHSCT trials.", f"{ASTIS}; {SCOT}"))
    if p.cardiac_involvement:
        w.append(Warning("caution", "Primary cardiac involvement: most treatment-related deaths after aHSCT in SSc "
                         "were cardiac; detailed cardiopulmonary screening (echocardiography, cardiac MRI, right "
                         "heart catheterisation) is required.", f"{BURT_2013}; {EBMT_2012}"))
    if p.pulmonary_hypertension:
        w.append(Warning("contraindication", "Pulmonary hypertension: significant pulmonary arterial hypertension "
                         "excluded patients from the aHSCT trials.", f"{ASTIS}; {SCOT}"))
    if p.fvc_percent_predicted < 50:
        w.append(Warning("contraindication", f"FVC {p.fvc_percent_predicted:g}% predicted: severe restrictive lung "
                         "disease (FVC below about 45-50% predicted) excluded patients from the aHSCT trials.",
                         f"{SCOT}; {EBMT_2012}"))
    if p.dlco_percent_predicted is not None and p.dlco_percent_predicted < 40:
        w.append(Warning("contraindication", f"DLCO {p.dlco_percent_predicted:g}% predicted: DLCO below about 40% "
                         "predicted excluded patients from the aHSCT trials.", f"{ASTIS}; {SCOT}"))
    if p.disease_duration_years > 5:
        w.append(Warning("note", f"Disease duration {p.disease_duration_years:g} years: the trials enrolled early "
                         "diffuse disease (about 4-5 years from the first non-Raynaud symptom).", f"{ASTIS}; {SCOT}"))
    if any(i.startswith("ahsct-tbi") for i in ids):
        w.append(Warning("note", "Myeloablative (TBI-based) conditioning requires lung and kidney shielding and "
                         "stricter organ-function criteria.", SCOT, (), ("ahsct-tbi-cy-atg",)))
    return w
