"""Type 1 diabetes on the shared core: insulitis, beta-cell mass, beta-cell function.

The core's target organ is the pancreatic islet: ``drev`` is the active insulitis (immune
infiltrate of the islets, relative units, about 1 in active new-onset disease) and
``cum_attack`` its cumulative load. This module adds

- ``beta``: residual beta-cell mass as a fraction of a normal pancreas. Beta cells die in
  proportion to insulitis and regenerate very slowly (logistic growth whose rate falls
  with age; adult human beta cells barely turn over);
- beta-cell *function* (an observable): surviving beta cells that are not "stunned".
  Insulitis and the hyperglycaemia it causes reversibly silence part of the remaining
  cells; when insulitis resolves (e.g. after immune ablation) function returns towards
  the surviving mass. This is why stimulated C-peptide can rise after aHSCT and why
  function at diagnosis (about 20-40% of normal) is lower than mass.

Clinical observation (remit.diseases.type1_diabetes.clinical) turns function into stimulated
C-peptide, insulin requirement, insulin independence, HbA1c and severe hypoglycaemia; the
observation parameters are declared here so that each patient's values are drawn with the
others and carry their sources.

Age scalings of the rates (younger patients: less mass left at diagnosis, faster loss,
more regeneration) are applied per patient in ``remit.diseases.type1_diabetes.clinical.prepare``.
"""

from __future__ import annotations

import math

import sympy as sp

from remit.model.spec import Module, Parameter, State

P = Parameter
LN2 = math.log(2.0)
YEAR = 365.25

STATES = [
    State("beta", "fraction of normal", "residual beta-cell mass (1 = normal pancreas)", 0.4),
    State("hba1c_dx", "% points", "HbA1c excess left from the hyperglycaemia before diagnosis (decays as red cells turn over)"),
]

PARAMETERS = [
    # --- beta-cell mass -------------------------------------------------------------------
    P("beta_dx", 0.50, "fraction of normal", 0.08, 0.9,
      "about 40% of beta-cell mass remains at diagnosis in young adults, less in children, with wide uncertainty and "
      "variation (Klinke 2008 PLoS One 3:e1374, meta-analysis of pancreas histology); median 0.5 at age 20 calibrated "
      "within that uncertainty so that function at diagnosis (mass minus stunned cells) is 20-40% of normal; set per "
      "patient from age in remit.diseases.type1_diabetes.clinical; beta-cell mass at diagnosis (start of the burn-in)",
      "beta-cell mass at diagnosis", "logitnormal", 0.55),
    P("beta_kill", 0.45 / YEAR, "1/day/insulitis unit", 0.05 / YEAR, 3.0 / YEAR,
      "calibrated: stimulated C-peptide falls by about 40-50% in the first year after diagnosis on insulin alone and more "
      "slowly thereafter (placebo/control arms of TrialNet new-onset trials: Greenbaum et al. 2012 Diabetes 61:2066; "
      "faster in children, slower in adults)",
      "beta-cell destruction rate per unit insulitis", "lognormal", 0.45),
    P("beta_regen", 0.15 / YEAR, "1/day", 0.0, 1.0 / YEAR,
      "adult human beta cells replicate very little: significant turnover is limited to the first three decades "
      "(Perl et al. 2010 J Clin Endocrinol Metab 95:E234), replication falls steeply after early childhood (Meier et al. "
      "2008 Diabetes 57:1584); value at age 20 a modelling assumption, scaled down with age per patient",
      "maximal (logistic) beta-cell regeneration rate at age 20", "lognormal", 0.5),
    # --- autoantigen drive ------------------------------------------------------------------
    P("ag_drive", 0.008, "1/day", 0.0, 0.05,
      "autoreactive memory re-expands on its antigen: beta cells given to a diabetic twin from the healthy twin were "
      "destroyed by recurrent autoimmunity within weeks without immunosuppression (Sibley et al. 1985 Lab Invest 53:132); "
      "after aHSCT about half of the patients who became insulin-free resumed insulin within about 4 years (Couri et al. "
      "2009 JAMA 301:1573: 8 of 20; t1d-daddio-2014-pooled: 59% insulin-free by 6 months, 32% at 48 months). Value and "
      "spread calibrated to that relapse; patients differ widely (lognormal)",
      "expansion of autoreactive T cells driven by beta-cell autoantigen, per unit beta-cell mass (fraction of normal)", "lognormal", 0.8),
    # --- reversible dysfunction ("stunning") ----------------------------------------------
    P("stun_max", 0.63, "1", 0.0, 0.9,
      "modelling assumption: insulitis and glucotoxicity silence part of the surviving beta cells; new-onset pancreata "
      "contain insulin-rich islets with impaired insulin release (Krogvold et al. 2015 Diabetes 64:2506, DiViD), and "
      "stimulated C-peptide rose 2-3-fold over 2 years after aHSCT (Couri et al. 2009 JAMA 301:1573)",
      "maximal fraction of surviving beta cells silenced by insulitis", "logitnormal", 0.4),
    P("stun_half", 0.3, "insulitis units", 0.05, 2.0,
      "modelling assumption: stunning half-maximal at about a third of the insulitis of active new-onset disease",
      "insulitis giving half-maximal stunning"),
    # --- observation: C-peptide -----------------------------------------------------------
    P("cpep_normal", 2.4, "nmol/L", 1.2, 4.0,
      "modelling assumption chosen so that new-onset patients (function 20-40%) have a mean 2-h MMTT C-peptide AUC of "
      "about 0.6-0.8 nmol/L as in TrialNet new-onset cohorts (Greenbaum et al. 2012 Diabetes 61:2066); healthy stimulated "
      "C-peptide about 2-3 nmol/L",
      "mean 2-h MMTT C-peptide AUC at normal beta-cell function", "lognormal", 0.2),
    P("cpep_cv", 0.10, "1", 0.03, 0.3,
      "test-retest variability of the stimulated C-peptide AUC about 10% (Greenbaum et al. 2008 Diabetes Care 31:1966, "
      "MMTT reproducibility)",
      "measurement coefficient of variation of stimulated C-peptide"),
    # --- observation: insulin -------------------------------------------------------------
    P("indep_function", 0.32, "fraction of normal", 0.15, 0.7,
      "modelling assumption: insulin can be withdrawn when beta-cell function exceeds about a third of normal; "
      "partial remission (IDAA1c <= 9) corresponds to stimulated C-peptide above about 0.3 nmol/L and complete "
      "remission needs more (Mortensen et al. 2009 Diabetes Care 32:1384); differs between patients with insulin "
      "sensitivity",
      "beta-cell function above which a patient needs no insulin", "logitnormal", 0.3),
    P("indep_hysteresis", 0.15, "1", 0.0, 0.4,
      "modelling assumption: insulin is restarted only when function has fallen clearly below the level at which it "
      "was stopped (glycaemic targets lost), which keeps measurement-level fluctuations from toggling treatment",
      "relative fall of function below the threshold before insulin is restarted"),
    P("insulin_full", 0.8, "IU/kg/day", 0.4, 1.5,
      "total daily insulin about 0.7-1.0 IU/kg/day in type 1 diabetes without residual secretion, higher in "
      "adolescents (ADA Standards of Care; DCCT 1993 NEJM 329:977 intensive arm)",
      "insulin dose at full replacement", "lognormal", 0.2),
    P("insulin_visit_cv", 0.10, "1", 0.0, 0.3,
      "modelling assumption: day-to-day and visit-to-visit variability of the recorded daily insulin dose",
      "visit variability of the recorded insulin dose"),
    # --- observation: glycaemia -----------------------------------------------------------
    P("hba1c_insulin", 7.6, "%", 6.0, 11.0,
      "HbA1c on intensive insulin therapy without residual secretion: DCCT intensive arm about 7.2% (DCCT 1993 NEJM "
      "329:977), registries about 7.5-8.5%",
      "HbA1c on insulin with no endogenous secretion", "lognormal", 0.1),
    P("hba1c_free", 5.9, "%", 5.0, 6.5,
      "HbA1c below 7% (mean about 6%) while insulin-free after aHSCT (Voltarelli et al. 2007 JAMA 297:1568)",
      "HbA1c while insulin-independent"),
    P("hba1c_dx_excess", 4.0, "% points", 1.0, 9.0,
      "HbA1c at diagnosis of type 1 diabetes about 10-12% in adolescents and young adults (e.g. SEARCH; DKA cohorts), "
      "i.e. about 3-5 points above its treated level",
      "excess HbA1c at diagnosis over the treated level (initial value of the hba1c_dx state)", "lognormal", 0.3),
    P("hba1c_tau", 40.0, "day", 25.0, 60.0,
      "HbA1c reflects mean glycaemia over the previous 2-3 months (red cell lifespan about 120 days); it approaches a "
      "new level with a time constant of about 5-6 weeks (Tahara & Shima 1995 Diabetes Care 18:440)",
      "time constant of HbA1c"),
    # --- observation: events and antibodies ------------------------------------------------
    P("hypo_rate", 0.6, "events/year", 0.1, 2.0,
      "severe hypoglycaemia 61 per 100 patient-years on intensive therapy (DCCT 1993 NEJM 329:977); about 65% fewer "
      "with residual C-peptide (Steffes et al. 2003 Diabetes Care 26:832); scaled here by the insulin requirement",
      "severe hypoglycaemia rate at full insulin replacement", "lognormal", 0.5),
    P("gad_index", 3.0, "index", 0.05, 100.0,
      "about 70-80% of new-onset type 1 diabetes are GAD65-antibody positive (e.g. Bingley 2010 Diabetes Care 33:1330 "
      "and TrialNet screening): a lognormal index with median 3 and log-sd 1.5 at active-disease titre gives about 75%",
      "GAD65 antibody index (positive >= 1) at an autoantibody titre of 1", "lognormal", 1.5),
]

# Re-declared core parameters: the target organ is the islet.
OVERRIDES = [
    P("tissue_attack", 0.04, "insulitis units/day", 0.005, 0.3,
      "calibrated so that active new-onset disease (teff = 1) carries an insulitis of about 1 unit with the islet "
      "infiltrate turnover below (modelling assumption; insulitis present in most islets with insulin at onset: "
      "In't Veld 2011 Diabetologia 54:2244 review)",
      "new insulitis per day at teff = 1 and full inflammation", "lognormal", 0.3),
    P("k_repair", LN2 / 14.0, "1/day", LN2 / 60.0, LN2 / 5.0,
      "modelling assumption: islet infiltrates resolve within weeks once autoreactive T cells are removed",
      "resolution rate of insulitis"),
    P("infl_tissue", 0.05, "relative/insulitis unit", 0.0, 0.5,
      "modelling assumption: the islet infiltrate is small and adds little to systemic inflammation (type 1 diabetes "
      "is not a systemic inflammatory disease; insulitis affects a minority of islets: In't Veld 2011 Diabetologia "
      "54:2244)",
      "inflammation per unit insulitis"),
    P("irr_per_lesion", 0.0, "disease units/insulitis unit", 0.0, 0.05,
      "not used in type 1 diabetes: irreversible damage is the beta-cell loss tracked by the beta state",
      "irreversible damage left by insulitis (unused)"),
]


def function_expr(beta, drev, p) -> sp.Expr:
    """Beta-cell function (fraction of normal): surviving mass not silenced by insulitis."""
    return beta * (1 - p["stun_max"] * drev / (drev + p["stun_half"]))

# Units of the core's target-organ states in type 1 diabetes (dirr is unused).
STATE_UNITS = {"drev": "insulitis units", "cum_attack": "insulitis units"}


def module() -> Module:
    """T1D additions to the core: beta-cell mass lost to insulitis, slow regeneration, function."""
    beta, drev, teff = sp.symbols("beta drev teff")
    p = {q.name: sp.Symbol(q.name) for q in PARAMETERS + OVERRIDES}
    hdx = sp.Symbol("hba1c_dx")
    rates = {"beta": p["beta_regen"] * beta * (1 - beta) - p["beta_kill"] * drev * beta,
             "hba1c_dx": -hdx / p["hba1c_tau"],
             # autoantigen on the remaining beta cells re-stimulates autoreactive T cells (saturating like the core's expansion)
             "teff": p["ag_drive"] * beta * teff * (1 - teff / sp.Symbol("teff_cap"))}
    observables = {"beta_function": function_expr(beta, drev, p)}
    return Module("type1_diabetes", list(STATES), list(PARAMETERS), rates, observables, overrides=list(OVERRIDES),
                  state_units=STATE_UNITS)


def beta_function(beta, drev, stun_max, stun_half):
    """Numerical beta-cell function from states (numpy arrays broadcast)."""
    return beta * (1.0 - stun_max * drev / (drev + stun_half))
