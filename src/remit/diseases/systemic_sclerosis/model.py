"""Systemic sclerosis (diffuse cutaneous) on the shared core: skin, lung, heart.

The core's target-organ states take these meanings here:

- ``drev``: active inflammatory/fibrotic tissue activity in skin, lung and heart
  (relative, about 1 in early active diffuse SSc); it resolves within months once
  autoreactive T cells and inflammation fall;
- ``cum_attack``: cumulative activity (``drev``-units x turnover), an accumulator only;
- ``dirr``: irreversible loss of forced vital capacity from established lung fibrosis,
  in FVC % predicted points.

This module adds the organ states that turn activity into clinical scores:

- ``skin``: skin thickening in modified Rodnan skin score points (0-51). It rises while
  the disease is active, towards a ceiling, and regresses slowly (dermal remodelling
  over months to years) when activity stops; ``skin_burnout`` is the slow fall of the
  fibroblast response with disease duration (the atrophic phase), which makes the skin
  score of untreated diffuse SSc peak within a few years of onset and then regress;
- ``lung``: reversible interstitial lung disease (inflammatory, ground-glass part) in FVC %
  predicted points; FVC = premorbid FVC - ``lung`` - ``dirr``;
- ``heart``: fraction of myocardium fibrosed (0-1), accrued only in patients with cardiac
  involvement; LVEF falls with it.

Organ failure (heart, lung, kidney) and disease deaths are hazards of these states,
drawn in :mod:`remit.diseases.systemic_sclerosis.clinical` with the observation parameters below.
No published mechanistic SSc immune/fibrosis ODE model was found (research/models.md 1.7);
the structure is a modelling assumption, anchored by the sources given per parameter.
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from remit.model.core import core_parameter
from remit.model.spec import Module, Parameter, State

P = Parameter
LN2 = 0.6931471805599453
YEAR = 365.25
MRSS_MAX = 51.0  # 17 body areas x 0-3 (Clements et al. 1995 J Rheumatol 22:1281)

STATES = [
    State("skin", "mRSS points", "skin thickening (modified Rodnan skin score, 0-51)"),
    State("skin_burnout", "1", "fall of the dermal fibroblast response with disease duration (0 = none, 1 = burnt out)"),
    State("lung", "FVC % predicted", "reversible (inflammatory) interstitial lung disease, as FVC points lost"),
    State("heart", "1", "fraction of myocardium fibrosed (primary SSc heart involvement)"),
]

# Core parameters re-declared with SSc values (drev = 1 in active early diffuse SSc).
OVERRIDES = [
    P("tissue_attack", 0.0085, "drev-units/day", 0.002, 0.04,
      "calibrated so that active early diffuse SSc (teff and infl at their active steady state) sits at drev about 1 "
      "with k_repair below (modelling assumption; the scale of drev is arbitrary)",
      "rate of new inflammatory/fibrotic tissue activity at teff = 1 and full inflammation", "lognormal", 0.3),
    P("k_repair", LN2 / 60.0, "1/day", LN2 / 180.0, LN2 / 21.0,
      "skin and lung inflammatory infiltrates resolve within 1-3 months of effective immunosuppression: mRSS and "
      "FVC start improving within 3-6 months of aHSCT (Burt et al. 2011 Lancet 378:498, ASSIST; van Laar et al. 2014 "
      "JAMA 311:2490, ASTIS); half-life 60 days is a modelling assumption within that",
      "resolution rate of active tissue activity"),
    P("irr_per_lesion", 0.55, "FVC % predicted/drev-unit", 0.0, 3.0,
      "calibrated: untreated active SSc-ILD loses about 2-3 FVC % predicted a year (SLS I placebo arm -2.6% over 12 "
      "months, Tashkin et al. 2006 NEJM 354:2655), of which this is the irreversible (fibrotic) part; set per patient "
      "in proportion to lung_involvement (remit.diseases.systemic_sclerosis.clinical.prepare)",
      "irreversible FVC loss per unit of tissue activity"),
    replace(core_parameter("infl_tissue"), unit="relative/drev-unit"),  # the core's value, per unit of SSc tissue activity
]

PARAMETERS = [
    # --- skin ----------------------------------------------------------------------------
    P("k_skin_up", 0.5, "mRSS points/day/drev-unit", 0.03, 1.0,
      "calibrated: skin thickening of early diffuse SSc reaches mRSS 20-35 within 1-2 years of the first non-Raynaud "
      "symptom (Steen & Medsger 2001 Arthritis Rheum 44:2828; ASTIS baseline mRSS about 25 at <= 4 years, van Laar 2014)",
      "skin thickening rate at drev = 1 and mRSS 0 (saturates at 51)", "lognormal", 0.45),
    P("k_skin_down", LN2 / 240.0, "1/day", LN2 / 900.0, LN2 / 120.0,
      "calibrated: after aHSCT the skin score falls by about 20 points over 2 years (ASTIS: -19.9 vs -8.8 on "
      "cyclophosphamide, van Laar 2014, unverified magnitude; Nash et al. 2007 Blood 110:1388: -22 at final "
      "evaluation), i.e. remodelling half-life about 8 months",
      "regression rate of skin thickening", "lognormal", 0.3),
    P("k_burnout", LN2 / (1.5 * YEAR), "1/day/drev-unit", LN2 / (10.0 * YEAR), LN2 / (1.0 * YEAR),
      "the skin score of diffuse SSc peaks 1-3 years after onset and regresses thereafter even on standard care "
      "(Steen & Medsger 2001; Pittsburgh cohort PMC8677444: <18 months from onset >70% on worsening trajectories, "
      "longer durations regress to the mean); half-time 1.5 years at drev = 1: modelling assumption",
      "rate of fibroblast burn-out per unit of tissue activity", "lognormal", 0.4),
    # --- lung ----------------------------------------------------------------------------
    P("lung_involvement", 1.0, "1", 0.05, 8.0,
      "extent of interstitial lung disease varies widely between patients, severe lung involvement in a minority, "
      "mostly within 3 years of onset (Steen & Medsger 2000 Arthritis Rheum 43:2437); log-sd 0.8: modelling assumption",
      "patient multiplier of lung involvement (reversible and irreversible)", "lognormal", 0.8),
    P("k_lung_in", 0.045, "FVC % predicted/day/drev-unit", 0.0, 0.08,
      "calibrated: reversible ILD of up to about 17 FVC points at drev = 1 (less in most patients: lung_involvement), recovered after effective therapy (FVC +2-3% "
      "at 2 years on mycophenolate or cyclophosphamide, SLS II, Tashkin et al. 2016 Lancet Respir Med 4:708; "
      "+6.3 vs -2.8 points after aHSCT vs cyclophosphamide in ASTIS, unverified magnitude)",
      "reversible FVC loss rate at drev = 1"),
    P("k_lung_out", LN2 / 270.0, "1/day", LN2 / (3.0 * YEAR), LN2 / 90.0,
      "FVC improvement under immunosuppression accrues over 1-2 years (SLS II: gains through month 24, Tashkin 2016); "
      "half-life 9 months: modelling assumption",
      "resolution rate of reversible ILD"),
    P("fvc_normal", 100.0, "% predicted", 70.0, 130.0,
      "healthy FVC % predicted has SD about 12-13% (lower limit of normal about 80%: Quanjer et al. 2012 Eur Respir J "
      "40:1324)",
      "premorbid FVC", "lognormal", 0.12),
    # --- heart ---------------------------------------------------------------------------
    P("k_heart", 1.2e-3, "1/day/drev-unit", 0.0, 4.0e-3,
      "calibrated: with cardiac involvement myocardial fibrosis progresses over years and causes 14-26% of SSc deaths "
      "(Tyndall et al. 2010 Ann Rheum Dis 69:1809, EUSTAR); set per patient from cardiac involvement in prepare",
      "myocardial fibrosis rate at drev = 1 in a patient with cardiac involvement", "lognormal", 0.6),
    # --- observation (used by remit.diseases.systemic_sclerosis.clinical, not by the ODE) -------
    P("mrss_rater_sd", 3.0, "mRSS points", 0.0, 6.0,
      "intra-observer SD about 2.5 and inter-observer SD about 4.6 mRSS points (Clements et al. 1995 J Rheumatol "
      "22:1281); trials keep one assessor per patient where they can",
      "measurement error of the skin score at a visit"),
    P("fvc_test_sd", 3.0, "% predicted", 0.0, 6.0,
      "spirometry repeatability about 3-5% of FVC (Miller et al. 2005 Eur Respir J 26:319, ATS/ERS)",
      "measurement error of FVC % predicted at a visit"),
    # --- function (HAQ-DI) and gas transfer (DLCO): read from the states, no dynamics of their own -----
    P("haq_base", 0.2, "HAQ points", 0.0, 3.0,
      "disability not explained by skin or lung (pain, hand function, fatigue, muscle): early diffuse SSc has mean "
      "HAQ-DI 1.1 (SD 0.83) and a correlation with mRSS of only 0.34 (ESOS, Herrick et al. 2018 Rheumatology 57:370); "
      "median 0.2 and log-sd 1.2 (modelling assumption) give, with the skin and lung terms, an ASTIS-like cohort a mean "
      "of 1.28, an SD of 0.56 and a correlation with mRSS of 0.44 (measured): the mean as published, the spread narrower",
      "patient's HAQ-DI without skin thickening or lung restriction", "lognormal", 1.2),
    P("haq_per_mrss", 0.035, "HAQ points/mRSS point", 0.0, 0.1,
      "slope = correlation x SD(HAQ-DI) / SD(mRSS) = 0.34 x 0.83 / 8 (ESOS, Herrick et al. 2018 Rheumatology 57:370; "
      "worsening HAQ-DI over 12 months went with rising mRSS, rho 0.40)",
      "HAQ-DI per mRSS point (true skin state)"),
    P("haq_per_fvc", 0.01, "HAQ points/% predicted", 0.0, 0.05,
      "HAQ-DI is higher with pulmonary fibrosis (ESOS, Herrick et al. 2018 Rheumatology 57:370); 0.1 per 10 FVC points "
      "below 80% predicted is a modelling assumption",
      "HAQ-DI per FVC % predicted point below 80"),
    P("haq_test_sd", 0.2, "HAQ points", 0.0, 0.5,
      "visit-to-visit variation of a self-reported score (modelling assumption; HAQ-DI has 20 items in 8 categories "
      "scored 0-3, so it moves in steps of 0.125: Fries et al. 1980 Arthritis Rheum 23:137)",
      "measurement error of HAQ-DI at a visit"),
    P("dlco_normal", 100.0, "% predicted", 60.0, 140.0,
      "healthy DLCO % predicted, lower limit of normal about 75-80% (GLI reference values, Stanojevic et al. 2017 Eur "
      "Respir J 50:1700010); log-sd 0.15",
      "premorbid DLCO", "lognormal", 0.15),
    P("dlco_per_fvc", 1.2, "% predicted/% predicted", 0.5, 2.5,
      "modelling assumption: interstitial lung disease lowers gas transfer somewhat more than volume (in SSc-ILD DLCO "
      "is usually further below normal than FVC; SLS I enrolled FVC 45-85% and excluded DLCO < 30%, Tashkin et al. "
      "2006 NEJM 354:2655)",
      "DLCO points lost per FVC point of lung involvement (reversible and irreversible)"),
    P("dlco_vascular", 8.0, "% predicted", 0.0, 60.0,
      "pulmonary vasculopathy lowers DLCO independently of ILD; a DLCO below 60% predicted without restriction prompts "
      "screening for pulmonary arterial hypertension (DETECT, Coghlan et al. 2014 Ann Rheum Dis 73:1340); median 8 "
      "points and log-sd 0.8: modelling assumption",
      "patient's DLCO loss from pulmonary vasculopathy (constant over the trial)", "lognormal", 0.8),
    P("dlco_test_sd", 5.0, "% predicted", 0.0, 10.0,
      "DLCO repeatability about 5-10% of the value (ERS/ATS standard, Graham et al. 2017 Eur Respir J 49:1600016)",
      "measurement error of DLCO % predicted at a visit"),
    P("lvef_normal", 63.0, "%", 55.0, 70.0, "normal LVEF about 55-70% (ASE reference)", "LVEF without heart fibrosis"),
    P("lvef_per_heart", 45.0, "%", 20.0, 60.0,
      "modelling assumption: LVEF falls below 30% (ASTIS heart-failure definition) when about 3/4 of the myocardium "
      "is fibrosed",
      "LVEF lost at heart = 1"),
    P("h_heart_failure", 2.5, "1/year", 0.05, 3.0,
      "calibrated to ASTIS (van Laar 2014: persistent major organ failure or death in 31 of 77 on cyclophosphamide over "
      "median 5.8 years); hazard of LVEF < 30% / severe heart failure scales with heart^2 (modelling assumption)",
      "heart-failure hazard at heart = 1"),
    P("h_lung_failure", 0.6, "1/year", 0.05, 3.0,
      "modelling assumption: FVC < 50% predicted (ASTIS lung-failure definition) becomes persistent failure at this "
      "rate; logistic in FVC with midpoint fvc_failure and scale 4 points",
      "lung-failure hazard when FVC is well below fvc_failure"),
    P("fvc_failure", 50.0, "% predicted", 40.0, 60.0, "ASTIS major lung failure: FVC < 50% predicted (van Laar 2014)",
      "FVC at which the lung-failure hazard is half-maximal"),
    P("h_pah", 0.008, "1/year", 0.0, 0.03,
      "pulmonary arterial hypertension incidence about 0.6-1.5% a year in SSc (Hachulla et al. 2009 Arthritis Rheum "
      "60:1831)",
      "pulmonary hypertension hazard (counted as lung failure in ASTIS)"),
    P("h_renal_crisis", 0.025, "1/year", 0.0, 0.1,
      "scleroderma renal crisis in 5-10% of early diffuse SSc, mostly within 4 years of onset while the disease is "
      "active (Steen & Medsger 2000 Arthritis Rheum 43:2437; Penn et al. 2007 QJM 100:485)",
      "renal-crisis hazard at drev = 1"),
    P("h_cardiac_death", 1.0, "1/year", 0.0, 1.0,
      "calibrated to ASTIS deaths (23 of 77 on cyclophosphamide, 7 within 1 year, van Laar 2014); heart disease causes "
      "about a quarter of SSc deaths, many sudden (Tyndall 2010); scales with heart^2",
      "sudden cardiac death hazard at heart = 1"),
    P("h_post_failure_death", 0.6, "1/year", 0.05, 1.0,
      "calibrated: in ASTIS 23 of the 31 patients with an event on cyclophosphamide had died by the end of follow-up "
      "(van Laar 2014), so most patients die within a few years of major organ failure (renal crisis: "
      "5-year survival about 60-65%, Penn 2007; SSc-associated PAH: 3-year survival about 50%, Condliffe et al. 2009 "
      "Am J Respir Crit Care Med 179:151)",
      "death hazard after persistent major organ failure"),
]

# Units of the core's target-organ states in SSc.
STATE_UNITS = {"drev": "drev-units", "cum_attack": "drev-units", "dirr": "FVC % predicted"}


def module() -> Module:
    """SSc additions to the core: skin, fibroblast burn-out, reversible ILD, heart fibrosis."""
    drev, skin, burn, lung, heart = sp.symbols("drev skin skin_burnout lung heart")
    p = {q.name: sp.Symbol(q.name) for q in PARAMETERS}
    rates = {
        "skin": p["k_skin_up"] * drev * (1 - burn) * (1 - skin / MRSS_MAX) - p["k_skin_down"] * skin,
        "skin_burnout": p["k_burnout"] * drev * (1 - burn),
        "lung": p["k_lung_in"] * p["lung_involvement"] * drev - p["k_lung_out"] * lung,
        "heart": p["k_heart"] * drev * (1 - heart),
    }
    dirr = sp.Symbol("dirr")
    observables = {"fvc_model": p["fvc_normal"] - lung - dirr}
    return Module("systemic_sclerosis", list(STATES), list(PARAMETERS), rates, observables, overrides=list(OVERRIDES),
                  state_units=STATE_UNITS)
