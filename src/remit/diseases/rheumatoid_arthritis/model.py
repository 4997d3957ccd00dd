"""Rheumatoid arthritis on the shared core: synovitis, joint damage, and what they look like clinically.

The core's target organ is the synovium of the 28 DAS28 joints:

- ``drev`` is active synovitis, in units where 1 is the synovitis of typical active RA
  (about 10 swollen and 12-15 tender joints of 28);
- ``dirr`` is irreversible joint damage in modified Sharp/van der Heijde units (mTSS, 0-448);
- ``infl`` is the systemic inflammatory signal (IL-6/TNF) that CRP reports; in RA most of it
  comes from the inflamed synovium, so the synovitis term of the core is re-declared larger.

The module adds one rate term: conventional RA drugs (methotrexate, TNF/IL-6 blockade...)
also speed the removal of inflammatory signal while given (CRP falls within weeks of
starting them), in proportion to the core's maintenance-therapy inhibition
``1 - exp(-dmt_resp * dmt)``. It is a product with that inhibition, so with no drug it is
exactly zero. Everything else is observation: the parameters that turn synovitis, damage
and inflammation into joint counts, CRP, global assessments and HAQ
(:mod:`remit.diseases.rheumatoid_arthritis.clinical`).
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from remit.model.spec import Module, Parameter

P = Parameter
LN2 = math.log(2.0)
SHARP_MAX = 448.0  # modified Sharp/van der Heijde score maximum (van der Heijde 2000 J Rheumatol 27:261)
JOINTS = 28

PARAMETERS = [
    P("ra_drug_infl", 3.0, "1", 0.0, 5.0,
      "calibrated: anti-rheumatic drugs lower CRP within weeks, more than the joint counts (adalimumab + MTX in "
      "MTX-inadequate responders: CRP about 2.8 -> 0.9-1.1 mg/dL within 24 weeks, ARMADA, Weinblatt et al. 2003 "
      "Arthritis Rheum 48:35); at full inhibition the inflammatory signal is cleared 1 + ra_drug_infl times faster",
      "relative increase of inflammatory-signal clearance at full drug inhibition"),
    # --- observation parameters (used by remit.diseases.rheumatoid_arthritis.clinical, not by the ODE) ---
    P("sjc_gain", 0.44, "1/synovitis unit", 0.1, 1.5,
      "calibrated: typical active RA (synovitis 1) has about 10 of 28 joints swollen (baseline SJC28 about 10-20 in "
      "MTX-IR trials, e.g. ARMADA: Weinblatt et al. 2003 Arthritis Rheum 48:35); patients differ in how many joints "
      "their synovitis involves",
      "swollen-joint fraction 1 - exp(-sjc_gain * synovitis)", "lognormal", 0.35),
    P("tjc_gain", 0.6, "1/synovitis unit", 0.1, 2.0,
      "calibrated: tender joints exceed swollen joints in established RA (TJC28 about 13-16 vs SJC28 about 10-12 at "
      "entry of MTX-IR trials, e.g. OPTION: Smolen et al. 2008 Lancet 371:987)",
      "tender-joint fraction from synovitis 1 - exp(-tjc_gain * synovitis)", "lognormal", 0.35),
    P("tjc_pain", 0.07, "1", 0.0, 1.5,
      "modelling assumption: non-inflammatory tenderness (secondary fibromyalgia, central sensitisation: about 15-20% "
      "of RA patients, Wolfe et al. 2004) keeps TJC and patient global high without synovitis; log-hazard units",
      "non-inflammatory tender-joint term (added to tjc_gain * synovitis)", "lognormal", 1.0),
    P("crp_normal", 1.5, "mg/L", 0.2, 5.0,
      "healthy adults' CRP median about 1-2 mg/L (reference range < 5 mg/L)",
      "CRP without disease inflammation", "lognormal", 0.5),
    P("crp_gain", 10.0, "mg/L", 2.0, 100.0,
      "calibrated: baseline CRP about 10-25 mg/L in established active RA trials (e.g. OPTION mean CRP about 2.5 mg/dL, "
      "Smolen et al. 2008); wide between-patient spread (some active RA has normal CRP)",
      "CRP above normal per unit of disease inflammation", "lognormal", 0.7),
    P("esr_normal", 10.0, "mm/h", 2.0, 30.0,
      "Westergren ESR upper limit of normal about age/2 (men) and (age + 10)/2 (women) (Miller et al. 1983 BMJ "
      "286:266); the typical adult value is lower",
      "ESR without disease inflammation", "lognormal", 0.4),
    P("esr_gain", 20.0, "mm/h", 5.0, 60.0,
      "modelling assumption: ESR about 30-45 mm/h at entry of active-RA trials, whose CRP is about 10-25 mg/L; ESR "
      "also follows immunoglobulins and fibrinogen, so its spread is wide",
      "ESR above normal per unit of disease inflammation", "lognormal", 0.5),
    P("rf_scale", 60.0, "IU/mL", 5.0, 500.0,
      "rheumatoid factor is positive (>= 20 IU/mL) in about 70% of RA patients (pooled sensitivity 69%: Nishimura "
      "et al. 2007 Ann Intern Med 146:797); titres span two orders of magnitude",
      "rheumatoid factor titre per unit autoantibody state", "lognormal", 1.2),
    P("pga_inflam", 42.0, "mm", 10.0, 70.0,
      "calibrated: patient global assessment about 55-65 mm at entry of active-RA trials (ARMADA, OPTION)",
      "patient global (0-100 mm VAS) per unit synovitis"),
    P("pga_other", 12.0, "mm", 0.0, 60.0,
      "modelling assumption: pain and fatigue not due to synovitis (damage, comorbidity, fibromyalgia) keep patient "
      "global above 0 in remission (residual PGA of 10-20 mm is the usual reason for missing Boolean remission: "
      "Studenic et al. 2012 Arthritis Rheum 64:2814)",
      "patient global not due to synovitis", "lognormal", 0.6),
    P("pga_noise", 10.0, "mm", 3.0, 20.0,
      "patient global VAS test-retest variability about 10-15 mm (e.g. minimal detectable change about 20 mm)",
      "visit-to-visit SD of patient-reported VAS scores"),
    P("haq_inflam", 0.9, "HAQ points", 0.2, 1.5,
      "calibrated: HAQ-DI about 1.5-1.7 at entry of refractory-RA trials (ATTAIN, REFLEX) and falls by about 0.3-0.6 "
      "with an effective drug",
      "HAQ disability index per unit synovitis"),
    P("haq_other", 0.35, "HAQ points", 0.0, 2.5,
      "modelling assumption: disability not explained by active synovitis (age, comorbidity, pain)",
      "HAQ not due to synovitis", "lognormal", 0.5),
    P("haq_per_sharp", 0.004, "HAQ points/Sharp unit", 0.0, 0.02,
      "joint damage adds irreversible disability: about 0.1 HAQ per 25-30 Sharp units (Aletaha et al. 2006 Arthritis "
      "Rheum 54:2784)",
      "HAQ per unit of joint damage"),
    P("sharp_read_sd", 2.0, "Sharp units", 0.0, 6.0,
      "radiograph reading error: smallest detectable change of mTSS about 3-5 units (Bruynesteijn et al. 2005 Ann "
      "Rheum Dis 64:179)",
      "SD of the reading error of one mTSS read"),
    P("ra_flux", 0.3, "1", 0.0, 0.8,
      "disease activity fluctuates between visits without any change of therapy: the EULAR response criteria need a "
      "DAS28 fall > 1.2, twice its visit-to-visit variability of about 0.6 (van Gestel et al. 1996 Arthritis Rheum "
      "39:34); modelled as a log-normal day-of-assessment factor on synovitis (value: modelling assumption)",
      "log-SD of the synovitis present on the day of an assessment around its model value"),
    P("ra_context", 0.15, "1", 0.01, 0.5,
      "calibrated: patient-reported outcomes and tender joints improve in every arm of a trial (placebo on background "
      "MTX: ACR20 29% at month 1 in Cx611, Alvaro-Gracia et al. 2017 Ann Rheum Dis 76:196; 14.5% at week 24 in "
      "ARMADA, Weinblatt et al. 2003); modelled as a fractional improvement that fades",
      "mean fractional improvement of subjective components on entering a trial (contextual/placebo response)",
      "logitnormal", 0.8),
    P("ra_context_days", 60.0, "day", 14.0, 365.0,
      "modelling assumption: the placebo response of RA trials is largest in the first month and wanes over months "
      "(Cx611 placebo ACR20 29% at month 1, ARMADA placebo ACR20 14.5% at week 24)",
      "time constant of the fading of the contextual response"),
]

OVERRIDES = [
    # MSC in RA: the shared module's pro-repair and anti-inflammatory gains double synovitis resolution,
    # which gives +25-30 points of ACR20 over placebo at month 1; Cx611 (calibration trial) saw about
    # +4 points pooled over doses (33% of 46 vs 29% of 7; Alvaro-Gracia et al. 2017 Ann Rheum Dis 76:196).
    P("msc_repair_gain", 0.25, "1", 0.0, 3.0,
      "calibrated to Cx611 month-1 ACR20 (ra-cx611-2017, calibration role): IV adipose MSC speed synovitis "
      "resolution little", "relative increase of synovitis resolution at full systemic MSC effect"),
    P("msc_infl_damp", 0.15, "1", 0.0, 3.0,
      "calibrated to Cx611 month-1 ACR20 (ra-cx611-2017, calibration role), together with msc_repair_gain",
      "relative increase of inflammatory-signal clearance at full systemic MSC effect"),
    P("tissue_attack", 0.033, "synovitis units/day", 0.005, 0.15,
      "calibrated: untreated active RA sits at synovitis about 1-1.5 (about 10-14 swollen joints), with k_repair",
      "new synovitis per day at teff = 1 and full inflammation", "lognormal", 0.4),
    P("k_repair", LN2 / 14.0, "1/day", LN2 / 42.0, LN2 / 5.0,
      "synovitis resolves within weeks once its drive stops: responses to TNF blockade appear by week 1-2 and are "
      "near-maximal by week 12 (ARMADA, Weinblatt et al. 2003 Arthritis Rheum 48:35); joint swelling after "
      "intra-articular steroid resolves within 1-3 weeks",
      "resolution rate of active synovitis"),
    P("irr_per_lesion", 0.2, "Sharp units/synovitis unit", 0.0, 1.0,
      "calibrated: radiographic progression about 2-3 mTSS units/year in active established RA on MTX (placebo + MTX "
      "arm of DE019: 2.7/year, Keystone et al. 2004 Arthritis Rheum 50:1400) and about 4-6/year without effective "
      "therapy (MTX arm of early aggressive RA in PREMIER: 5.7/year, Breedveld et al. 2006 Arthritis Rheum 54:26)",
      "irreversible joint damage (mTSS units) left per unit of synovitis formed", "lognormal", 0.6),
    P("infl_tissue", 0.3, "relative/synovitis unit", 0.0, 0.5,
      "in RA the inflamed synovium is the main source of IL-6 and hence CRP (synovial fibroblasts and macrophages; "
      "McInnes & Schett 2011 NEJM 365:2205); modelled as a larger share of the inflammatory signal than in MS",
      "inflammation per unit active synovitis"),
]

# Units of the core's target-organ states in RA.
STATE_UNITS = {"drev": "synovitis units", "cum_attack": "synovitis units", "dirr": "Sharp units"}


def module() -> Module:
    """RA additions: drug-driven clearance of inflammatory signal (zero with no drug)."""
    infl, dmt = sp.symbols("infl dmt")
    k_infl, resp, gain = sp.symbols("k_infl dmt_resp ra_drug_infl")
    inhibition = 1 - sp.exp(-resp * dmt)
    rates = {"infl": -k_infl * gain * inhibition * infl}
    return Module("rheumatoid_arthritis", parameters=list(PARAMETERS), rates=rates, overrides=list(OVERRIDES),
                  state_units=STATE_UNITS)


def das28_esr(tjc, sjc, esr_mm_h, pga_mm):
    """DAS28-ESR (Prevoo et al. 1995 Arthritis Rheum 38:44): 0.56 sqrt(TJC28) + 0.28 sqrt(SJC28) + 0.70 ln(ESR)
    + 0.014 PGA (ESR in mm/h, PGA in mm)."""
    tjc, sjc, esr, pga = (np.asarray(x, dtype=float) for x in (tjc, sjc, esr_mm_h, pga_mm))
    return 0.56 * np.sqrt(tjc) + 0.28 * np.sqrt(sjc) + 0.70 * np.log(esr) + 0.014 * pga


def das28_crp(tjc, sjc, crp_mg_l, pga_mm):
    """DAS28-CRP (Wells et al. 2009 Ann Rheum Dis 68:954; weights of the Prevoo et al. 1995 DAS28):
    0.56 sqrt(TJC28) + 0.28 sqrt(SJC28) + 0.36 ln(CRP + 1) + 0.014 PGA + 0.96 (CRP in mg/L, PGA in mm)."""
    tjc, sjc, crp, pga = (np.asarray(x, dtype=float) for x in (tjc, sjc, crp_mg_l, pga_mm))
    return 0.56 * np.sqrt(tjc) + 0.28 * np.sqrt(sjc) + 0.36 * np.log(crp + 1.0) + 0.014 * pga + 0.96
