"""Crohn's disease on the shared core: mucosal inflammation, bowel damage, perianal fistula.

The core's target organ is the gut wall:

- ``drev`` is active mucosal inflammation (ulceration) in SES-CD points (Simple Endoscopic
  Score for Crohn's Disease, Daperno et al. 2004 Gastrointest Endosc 60:505), formed by
  autoreactive T cells under inflammation (the core's ``attack``) and healing with the
  mucosal repair rate;
- ``dirr`` is irreversible bowel damage (stricturing), in SES-CD narrowing points;
- ``cum_attack`` counts SES-CD points of new ulceration.

This module adds a local perianal compartment: a fistula tract ``fistula`` (0 = healed,
1 = fully formed, epithelialised, draining tract) and the effect of surgical fistula care
``peri_care`` (curettage, seton placement and removal). The tract forms under local
perianal inflammation; once epithelialised it sustains itself (a saturating
self-sustaining term), so an open and a healed tract are both stable states. Healing is
slowed by local inflammation and sped up by surgical care and by the local effect of
injected mesenchymal stromal cells (``msc_local_effect`` of the MSC module): a temporary
boost that pushes the tract below its tipping point closes it for good, one that is too
short lets it reopen. Maintenance therapy (the core's ``dmt``) lowers local inflammation
as it lowers lesion formation, only while it is given.

Local perianal inflammation is ``peri_propensity * infl * exp(-dmt_resp * dmt)``: the
systemic inflammatory signal, weighted by the patient's perianal disease propensity (0
for patients without perianal disease, set in remit.diseases.crohns_disease.clinical).

Observation parameters (CDAI, SES-CD, fistula examination, MRI) are used by
remit.diseases.crohns_disease.clinical, not by the ODE.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from remit.model.spec import Module, Parameter, State

P = Parameter
LN2 = 0.6931471805599453

STATES = [
    State("fistula", "1", "perianal fistula tract (0 = healed, 1 = fully formed epithelialised draining tract)"),
    State("peri_care", "1", "effect of surgical fistula care (curettage, seton placement/removal) on tract healing"),
]

# Re-declared core parameters: the gut's own values.
OVERRIDES = [
    P("r_act", 0.045, "1/day", 0.005, 0.1,
      "calibrated: Crohn's disease returns in most patients within 5 years of aHSCT (free of restarting therapy 91%, 63%, "
      "57%, 39%, 19% at 1-5 years, Burt et al. 2010 Blood 116:6123; treatment-free survival 54% at 1 year in the EBMT "
      "registry, Brierley et al. 2018 J Crohns Colitis); surviving clones re-expand faster than in MS (core default 0.03)",
      "activation/expansion rate of autoreactive T cells", "lognormal", 0.25),
    P("stim_base", 0.3, "1", 0.02, 0.5,
      "modelling assumption: the gut presents microbial antigen continuously, even without inflammation (recurrence of "
      "Crohn's disease after resection needs the faecal stream: Rutgeerts et al. 1991 Lancet 338:771)",
      "baseline antigen stimulation"),
    P("treg_sup", 100.0, "cells/uL", 20.0, 200.0,
      "mucosal effector T cells in Crohn's disease resist Treg suppression (Smad7: Fantini et al. 2009 Gastroenterology "
      "136:1308); value a modelling assumption (core default 60)",
      "Treg count giving 2-fold suppression"),
    P("tissue_attack", 0.15, "SES-CD points/day", 0.03, 1.5,
      "calibrated: untreated or refractory moderate-severe Crohn's disease has SES-CD about 10-15 (mean SES-CD 12-14 at "
      "entry of biologic trials, e.g. SONIC endoscopic cohort, Colombel et al. 2010 NEJM 362:1383; SES-CD >= 7 is "
      "moderate, >= 16 severe: Daperno et al. 2004 Gastrointest Endosc 60:505); steady state SES = attack/k_repair",
      "new mucosal ulceration per day at teff = 1 and full inflammation", "lognormal", 0.45),
    P("k_repair", LN2 / 42.0, "1/day", LN2 / 120.0, LN2 / 14.0,
      "mucosal ulcers heal over weeks to months once inflammation is controlled: endoscopic healing in about 30% by week "
      "10 of infliximab (ACCENT I endoscopic substudy, Rutgeerts et al. 2006 Gastrointest Endosc 63:433) and gradual "
      "endoscopic improvement over months after aHSCT (Burt et al. 2010 Blood 116:6123); half-life 6 weeks: modelling "
      "assumption within that range",
      "healing rate of active mucosal ulceration"),
    P("infl_tissue", 0.01, "relative/SES-CD point", 0.0, 0.04,
      "modelling assumption: ulcerated mucosa sustains inflammation (bacterial translocation); a fully active gut (SES-CD "
      "about 12) adds about 0.12 to the inflammatory signal, as the core default does per active lesion unit",
      "inflammation per SES-CD point of active ulceration"),
    P("irr_per_lesion", 0.002, "SES-CD narrowing points/SES-CD point", 0.0, 0.02,
      "modelling assumption: about half of patients develop stricturing or penetrating complications within 20 years "
      "(Cosnes et al. 2002 Inflamm Bowel Dis 8:244); value gives about 0.2 narrowing points per year of active disease",
      "irreversible narrowing left per SES-CD point of ulceration formed"),
]

PARAMETERS = [
    # --- perianal fistula (local compartment) ---------------------------------------------
    P("peri_propensity", 1.0, "1", 0.0, 5.0,
      "modelling assumption: perianal disease varies between patients; set to 0 in patients without perianal disease "
      "(cumulative perianal fistula incidence about 26% at 20 years, Schwartz et al. 2002 Gastroenterology 122:875)",
      "perianal inflammatory propensity (local inflammation per unit systemic inflammation)", "lognormal", 0.8),
    P("k_fist_open", 0.005, "1/day", 0.0005, 0.05,
      "modelling assumption: a fistula forms over weeks to months of active perianal inflammation (perianal abscess "
      "precedes most fistulas)",
      "rate of tract formation at local inflammation 1"),
    P("k_fist_chronic", 0.08, "1/day", 0.02, 0.3,
      "modelling assumption: an epithelialised tract sustains itself (why chronic fistulas persist on therapy: only "
      "13% complete closure on placebo, Present et al. 1999 NEJM 340:1398)",
      "maximal self-sustaining rate of an epithelialised tract", "lognormal", 0.35),
    P("fist_half", 0.6, "1", 0.2, 0.9,
      "modelling assumption: self-sustenance is switch-like (Hill exponent 4) and half-maximal at 60% of a formed "
      "tract, so that a tract pushed below about a third of its size heals on its own",
      "tract size giving half-maximal self-sustenance"),
    P("k_fist_heal", 0.02, "1/day", 0.005, 0.1,
      "modelling assumption: a de-epithelialised tract without inflammation closes over weeks (closure assessed 6-24 "
      "weeks after treatment: Present et al. 1999 NEJM 340:1398; Panes et al. 2016 Lancet 388:1281)",
      "healing rate of the tract without local inflammation"),
    P("l_fist_heal", 0.5, "1", 0.1, 2.0,
      "modelling assumption: local inflammation halves tract healing at half the active-disease level",
      "local inflammation that halves tract healing"),
    P("fist_care_gain", 3.5, "1", 0.0, 10.0,
      "calibrated: surgical care (curettage, seton) with saline closes about a third of refractory complex fistulas by "
      "week 24 (ADMIRE-CD control arm 34%, Panes et al. 2016 Lancet 388:1281)",
      "relative increase of tract healing right after surgical care"),
    P("k_peri_care", LN2 / 21.0, "1/day", LN2 / 90.0, LN2 / 7.0,
      "modelling assumption: the wound-healing stimulus of curettage lasts weeks",
      "decay rate of the surgical-care effect"),
    P("fist_msc_gain", 1.5, "1", 0.0, 20.0,
      "calibrated: a single local injection of 120e6 adipose MSC raised combined remission from 34% to 50% at week 24 "
      "(ADMIRE-CD, Panes et al. 2016 Lancet 388:1281)",
      "relative increase of tract healing at full local MSC effect"),
    # --- observation (used by remit.diseases.crohns_disease.clinical, not by the ODE) ------------------
    P("cdai_floor", 90.0, "CDAI points", 20.0, 180.0,
      "modelling assumption: symptoms without active inflammation (functional symptoms, prior resections) give CDAI "
      "well below the remission threshold of 150 (Best et al. 1976 Gastroenterology 70:439); symptoms often persist in endoscopic "
      "remission, so the value is set near the middle of the range",
      "CDAI without inflammation", "lognormal", 0.35),
    P("cdai_per_infl", 90.0, "CDAI points", 30.0, 200.0,
      "calibrated: refractory active disease scores CDAI about 250-400 (median 291 in Burt et al. 2005 Gastroenterology "
      "128:552; ASTIC required CDAI >= 250, Hawkey et al. 2015 JAMA 314:2524)",
      "CDAI points per unit symptomatic inflammation", "lognormal", 0.25),
    P("cdai_per_ses", 5.0, "CDAI points/SES-CD point", 0.0, 15.0,
      "modelling assumption: CDAI correlates only weakly with endoscopic activity (Daperno et al. 2004 Gastrointest "
      "Endosc 60:505: SES-CD vs CDAI r about 0.4)",
      "CDAI points per SES-CD point of ulceration"),
    P("cdai_fistula", 20.0, "CDAI points", 20.0, 20.0,
      "CDAI item 'complications': 20 points for an anal fistula/fissure/abscess (Best et al. 1976 Gastroenterology 70:439)",
      "CDAI points for a draining perianal fistula"),
    P("cdai_noise", 35.0, "CDAI points", 0.0, 80.0,
      "modelling assumption: the CDAI rests on a 7-day symptom diary and varies from week to week with unchanged disease "
      "(hence CDAI response defined by drops of 70-100 points; Sandborn et al. 2002 Gastroenterology 122:512)",
      "standard deviation of a visit's CDAI around the patient's state"),
    P("ses_noise", 1.0, "SES-CD points", 0.0, 3.0,
      "modelling assumption: SES-CD has good but imperfect inter-observer agreement (Daperno et al. 2004)",
      "standard deviation of an endoscopy's SES-CD around the patient's state"),
    P("fistula_exam_sd", 0.08, "1", 0.0, 0.3,
      "modelling assumption: fistulas drain intermittently, so a tract near closure may or may not drain on gentle "
      "compression at a given examination",
      "examination noise of the tract state in the drainage assessment"),
    P("surg_per_narrowing", 0.04, "1/year/SES-CD narrowing point", 0.0, 0.2,
      "modelling assumption: stricturing is the commonest indication for intestinal resection; with the ulceration "
      "term below, active refractory disease (SES-CD about 15, 0.8 narrowing points) is resected at about 6% a year, "
      "between the contemporary (after 2000) and the all-era population-based 5-year risks of surgery, 18.0% "
      "(95% CI 15.4-21.0; Tsai et al. 2021 Clin Gastroenterol Hepatol 19:2031) and 33.3% (26.3-42.1; Frolkis et al. "
      "2013 Gastroenterology 145:996)",
      "hazard of intestinal resection per SES-CD narrowing point (stricturing)", "lognormal", 0.5),
    P("surg_per_ulcer", 0.002, "1/year/SES-CD point", 0.0, 0.01,
      "modelling assumption: refractory inflammatory disease is also resected (failure of medical therapy, "
      "penetrating complications); half of the about 6% a year of active refractory disease (see surg_per_narrowing)",
      "hazard of intestinal resection per SES-CD point of active ulceration", "lognormal", 0.5),
    P("mri_collection", 0.2, "1", 0.0, 0.6,
      "calibrated: about 5% of patients with clinically closed fistulas still have a collection > 2 cm on MRI (ADMIRE-CD "
      "week 52: combined remission 56.3% vs clinical remission 59.2% with MSC, 38.6% vs 41.6% with placebo; Panes et al. "
      "2018 Gastroenterology 154:1334)",
      "probability of a perianal collection > 2 cm on MRI at saturating local inflammation (Emax, half at local "
      "inflammation 1)"),
]

DRAIN_THRESHOLD = 0.3  # tract state above which a fistula drains (modelling assumption: below the tipping point of healing)

# Units of the core's target-organ states in Crohn's disease.
STATE_UNITS = {"drev": "SES-CD points", "cum_attack": "SES-CD points", "dirr": "SES-CD narrowing points"}


def module() -> Module:
    """Crohn's additions to the core: the perianal fistula compartment and the gut's own parameter values."""
    f, care, infl, dmt, leff = sp.symbols("fistula peri_care infl dmt msc_local_effect")
    p = {q.name: sp.Symbol(q.name) for q in PARAMETERS + OVERRIDES}
    dmt_resp = sp.Symbol("dmt_resp")
    local = p["peri_propensity"] * infl * sp.exp(-dmt_resp * dmt)
    heal = (p["k_fist_heal"] * (1 + p["fist_care_gain"] * care + p["fist_msc_gain"] * leff)
            / (1 + local / p["l_fist_heal"]))
    sustain = p["k_fist_chronic"] * f**4 / (f**4 + p["fist_half"] ** 4)
    rates = {
        "fistula": (p["k_fist_open"] * local + sustain) * (1 - f) - heal * f,
        "peri_care": -p["k_peri_care"] * care,
    }
    observables = {"perianal_inflammation": local}
    return Module("crohns_disease", list(STATES), list(PARAMETERS), rates, observables, overrides=list(OVERRIDES),
                  state_units=STATE_UNITS)


def ses_cd_scale(x: np.ndarray) -> np.ndarray:
    """Round a continuous SES-CD to its integer scale 0..56 (NaN stays NaN)."""
    return np.where(np.isnan(x), np.nan, np.clip(np.round(np.nan_to_num(x)), 0.0, 56.0))


def cdai_scale(x: np.ndarray) -> np.ndarray:
    """Clip a CDAI to 0..600 and round to whole points (NaN stays NaN)."""
    return np.where(np.isnan(x), np.nan, np.clip(np.round(np.nan_to_num(x)), 0.0, 600.0))
