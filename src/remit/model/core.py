"""The shared immune core: haematopoiesis, T/B-cell compartments, inflammation, drugs.

Time is in days. Lymphocyte pools are in cells/uL of blood (CD4+ subsets);
autoreactive pools are relative (1 = the level that sustains active disease);
neutrophils are in 1e9/L. Structure follows ../shared/research/models.md section 6:

- neutrophil chain: Friberg et al. 2002, J Clin Oncol 20:4713 (prog -> 3 transit -> ANC,
  feedback (ANC0/ANC)^gamma), fed by a stem/progenitor pool ``hsc`` that conditioning
  depletes and the graft refills (modelling assumption, so that myeloablation and
  engraftment speed are represented);
- naive/memory CD4 with thymic export and density-dependent homeostatic proliferation:
  Yates et al. 2007 PLoS Med 4:e177; half-lives from Vrisekoop et al. 2008 PNAS 105:6115;
- autoreactive effector/memory T cells with Treg suppression and an inflammation-driven
  positive feedback that makes "tolerant" and "active disease" two stable states
  (Velez de Mendizabal et al. 2011 BMC Syst Biol 5:114; Alexander & Wahl 2011 Bull Math
  Biol 73:33, whose R0 threshold this bistability mirrors);
- autoreactive B cells, long-lived plasma cells, autoantibody; the circulating B cells of every
  specificity (``b_cells``, cells/uL), made by the marrow, for B-cell depletion and its end;
- one lumped pro-inflammatory signal ``infl`` with an hours-scale turnover (stiff);
- drugs: cyclophosphamide (``cy``), active rabbit ATG (``atg``), equine ATG (``eatg``, its own
  kinetics and potency: the two globulins add on one lymphocyte-killing effect), rituximab
  (``rtx``, B-cell depletion while it lasts), maintenance therapy potency (``dmt``); G-CSF,
  anti-CD20 maintenance depletion and the short anti-inflammatory effect of a methylprednisolone
  pulse are parameters switched by events;
- the therapies' own modules are composed after the disease's (MSC: :mod:`remit.therapies.msc.model`).

Every parameter carries units, a range and its source beside its definition.
"""

from __future__ import annotations

import sympy as sp

from remit.model.spec import Module, Parameter, State

LN2 = 0.6931471805599453

STATES = [
    # drugs
    State("cy", "mg/kg", "cyclophosphamide (and other alkylator, cyclophosphamide-equivalent) in the body"),
    State("atg", "ug/mL", "active (lymphocyte-binding) rabbit ATG"),
    State("eatg", "mg/kg", "equine ATG (horse IgG) in the body, per kg of body weight"),
    State("rtx", "mg/kg", "rituximab (anti-CD20) in the body, per kg of body weight"),
    State("dmt", "log-reduction", "potency of maintenance disease-modifying therapy, z = -ln(1 - efficacy)"),
    # haematopoiesis
    State("hsc", "relative", "haematopoietic stem/progenitor reserve (1 = normal marrow)", 1.0),
    State("prog", "relative", "proliferating myeloid precursors (Friberg Prol)", 1.0),
    State("tr1", "relative", "myeloid transit compartment 1", 1.0),
    State("tr2", "relative", "myeloid transit compartment 2", 1.0),
    State("tr3", "relative", "myeloid transit compartment 3", 1.0),
    State("anc", "1e9/L", "absolute neutrophil count", 4.0),
    # lymphocytes
    State("thy", "relative", "thymic function relative to the patient's own pre-treatment level", 1.0),
    State("naive", "cells/uL", "naive CD4+ T cells", 450.0),
    State("mem", "cells/uL", "memory CD4+ T cells (not autoreactive)", 330.0),
    State("treg", "cells/uL", "regulatory CD4+ T cells", 60.0),
    State("teff", "relative", "autoreactive effector/memory T cells (relative; untreated active disease settles near 2 with the default parameters, tolerance near 0)", 1.0),
    State("bcell", "relative", "autoreactive B cells (relative; follow teff)", 1.0),
    State("b_cells", "cells/uL", "circulating CD19+ B cells of every specificity (B-cell aplasia and its end)", 200.0),
    State("plasma", "relative", "long-lived autoreactive plasma cells", 1.0),
    State("autoab", "relative", "autoantibody titre", 1.0),
    # mediators
    State("infl", "relative", "lumped pro-inflammatory cytokine signal (relative; follows teff, near 2 in untreated active disease)", 1.0),
    # target organ (the disease module says what these mean clinically)
    State("drev", "lesions", "active, reversible tissue inflammation (e.g. MS: enhancing lesion load)", 1.0),
    State("dirr", "disease units", "irreversible organ damage (e.g. MS: EDSS points from lost tissue)"),
    # accumulators for hazard-driven clinical events
    State("cum_attack", "lesions", "cumulative count of new tissue lesions (immune attacks)"),
    State("cum_inf", "1", "cumulative severe-infection hazard"),
]

P = Parameter
PARAMETERS = [
    # --- cyclophosphamide ---------------------------------------------------------------
    P("k_cy", LN2 / 0.3, "1/day", LN2 / 0.5, LN2 / 0.15, "CY elimination half-life about 7 h (3-12 h): de Jonge et al. 2005 Clin Pharmacokinet 44:1135", "cyclophosphamide elimination rate"),
    P("ec50_cy", 20.0, "mg/kg", 5.0, 80.0, "modelling assumption: half-maximal lymphocyte kill at the exposure of about 40% of one 50 mg/kg conditioning dose", "CY exposure giving half-maximal kill"),
    P("kmax_cy_lymph", 1.2, "1/day", 0.3, 3.0, "modelling assumption: 200 mg/kg CY alone lowers lymphocytes about 10-fold (lymphocytes undetectable only with ATG: Storek 2008 Clin Immunol, kin-storek-immune-reconstitution)", "maximal CY kill rate of lymphocytes", "lognormal", 0.3),
    P("kmax_cy_hsc", 3.0, "1/day", 0.2, 3.0, "modelling assumption: CY 200 mg/kg is non-myeloablative (autologous recovery possible), stem cells are relatively CY-resistant (ALDH)", "maximal CY kill rate of stem/progenitor reserve"),
    P("kmax_cy_prog", 6.0, "1/day", 1.0, 10.0, "modelling assumption: dividing precursors are CY-sensitive (Friberg 2002 drug effect on Prol)", "maximal CY kill rate of proliferating precursors"),
    P("kmax_cy_thy", 0.3, "1/day", 0.05, 1.0, "modelling assumption: conditioning transiently damages thymic epithelium (thymic lag about 6 months: Dumont-Girard 1998 Blood 92:4464)", "maximal CY damage rate of thymic function"),
    P("bsa_per_kg", 1.8 / 70.0, "m2/kg", 0.012, 0.045, "body surface area per kg of body weight, Mosteller formula; set per patient from weight and height (remit.population)", "converts mg/m2 doses to mg/kg"),
    # --- ATG ----------------------------------------------------------------------------
    P("k_atg", LN2 / 5.0, "1/day", LN2 / 10.0, LN2 / 2.0, "active rabbit ATG half-life several days; linear part of Admiraal et al. 2015 Clin Pharmacokinet 54:435 (target-mediated part lumped)", "active ATG elimination rate"),
    P("atg_per_mg_kg", 1.5, "(ug/mL)/(mg/kg)", 0.8, 2.5, "6 mg/kg rATG gives peak active ATG 9.2 +- 5.8 ug/mL: Call et al. 2003 BBMT 9:460", "active ATG concentration per mg/kg dose"),
    P("ec50_atg", 1.0, "ug/mL", 0.3, 3.0, "active ATG above about 1 ug/mL is lymphodepleting (Admiraal 2015; Blood Adv 2022 6:1054 AUC thresholds)", "active ATG giving half-maximal kill"),
    P("kmax_atg", 0.45, "1/day", 0.1, 1.5, "calibrated so that Cy 200 mg/kg + ATG 6 mg/kg leaves T cells undetectable at day 7 (Storek 2008) yet not fully ablated (TCR diversity retained: PMC2704065)", "maximal ATG kill rate of T cells", "lognormal", 0.4),
    P("atg_b_frac", 0.3, "1", 0.0, 1.0, "modelling assumption: rATG depletes B cells less than T cells", "relative ATG potency on B cells"),
    P("k_eatg", LN2 / 5.7, "1/day", LN2 / 10.0, LN2 / 2.5, "plasma half-life of equine IgG 5.7 +- 3.0 days (ATGAM prescribing information, Pfizer)", "equine ATG elimination rate"),
    P("eatg_per_mg_kg", 10.0, "(ug/mL)/(mg/kg)", 5.0, 25.0, "with the 5.7-day half-life, reproduces the mean peak horse IgG of 727 +- 310 ug/mL during 10 mg/kg/day for 14 days (ATGAM prescribing information)", "equine ATG concentration per mg/kg dose"),
    P("ec50_eatg", 150.0, "ug/mL", 50.0, 500.0, "modelling assumption: most horse IgG does not bind lymphocytes; horse ATG 40 mg/kg/day x 4 depletes lymphocytes less deeply and for a shorter time than rabbit ATG 3.5 mg/kg/day x 5 (Scheinberg et al. 2011 NEJM 365:430), which this value reproduces against ec50_atg", "equine ATG giving half-maximal kill (same maximal kill as rabbit ATG)"),
    # --- rituximab ----------------------------------------------------------------------
    P("k_rtx", LN2 / 20.0, "1/day", LN2 / 32.0, LN2 / 12.0, "terminal half-life 19-22 days in rheumatoid arthritis (Breedveld et al. 2007 J Clin Pharmacol 47:1119)", "rituximab elimination rate"),
    P("rtx_per_mg_kg", 16.0, "(ug/mL)/(mg/kg)", 10.0, 25.0, "volume of distribution 4.3 L for a 70-kg adult: 2 x 1000 mg two weeks apart give a peak of about 370 ug/mL (rituximab prescribing information, RA)", "rituximab concentration per mg/kg dose"),
    P("kmax_rtx", 0.5, "1/day", 0.1, 2.0, "circulating B cells are nearly all depleted within 2 weeks of the first 1000 mg dose (Breedveld et al. 2007)", "maximal rituximab kill rate of B cells"),
    P("ec50_rtx", 10.0, "ug/mL", 1.0, 50.0, "set so that 2 x 1000 mg keeps B cells depleted for about 6 months, with recovery after (Breedveld et al. 2007; rituximab prescribing information: depletion at least 6 months in most RA patients)", "rituximab giving half-maximal B-cell kill"),
    # --- maintenance DMT ------------------------------------------------------------------
    P("k_dmt", LN2 / 14.0, "1/day", LN2 / 120.0, LN2 / 1.0, "set per drug by its protocol event (onset/offset half-life); default 2 weeks (modelling assumption)", "rate of approach of DMT potency to its target"),
    P("dmt_target", 0.0, "log-reduction", 0.0, 5.0, "set per drug by protocol events (remit.therapies.drugs)", "target potency of the current maintenance therapy"),
    P("dmt_resp", 1.0, "1", 0.2, 4.0, "modelling assumption: per-patient responsiveness to DMT (non-responders exist; selection on relapses on DMT enriches them)", "patient multiplier on DMT potency", "lognormal", 0.45),
    P("weight_inv", 1.0 / 70.0, "1/kg", 1.0 / 150.0, 1.0 / 30.0, "set per patient from the drawn body weight (remit.population)", "converts flat mg doses to mg/kg"),
    P("b_depletion", 0.0, "1/day", 0.0, 2.0, "set by protocol events (anti-CD20 therapy); ocrelizumab depletes CD19+ B cells within 2 weeks (Hauser 2017 NEJM 376:221)", "B-cell depletion rate while on anti-CD20"),
    # --- G-CSF --------------------------------------------------------------------------
    # --- methylprednisolone ----------------------------------------------------------------
    P("gc_effect", 0.0, "1", 0.0, 0.9, "set by protocol events while a methylprednisolone pulse acts (remit.therapies.ahsct.plan)", "fraction of inflammatory output suppressed by glucocorticoid"),
    P("gcsf", 0.0, "1", 0.0, 1.0, "set by protocol events (1 while G-CSF is given)", "G-CSF on/off"),
    P("gcsf_mtt_gain", 1.0, "1", 0.0, 3.0, "G-CSF shortens neutrophil maturation time about 2-fold (Friberg-type G-CSF models; Craig et al. arXiv 1512.06896)", "relative speed-up of myeloid transit under G-CSF"),
    P("gcsf_flare", 0.6, "1", 0.0, 3.0, "G-CSF alone can flare autoimmune disease, e.g. MS relapses after G-CSF mobilisation without CY (Openshaw et al. 2000 Neurology 54:2147)", "relative rise of inflammatory output under G-CSF"),
    # --- haematopoiesis (Friberg 2002) -------------------------------------------------
    P("mtt", 5.0, "day", 3.5, 6.5, "mean transit time 88-135 h across drugs: Friberg et al. 2002 J Clin Oncol 20:4713", "myeloid mean transit time"),
    P("fb_gamma", 0.17, "1", 0.1, 0.3, "feedback exponent 0.16-0.2: Friberg et al. 2002", "feedback exponent (ANC0/ANC)^gamma"),
    P("anc0", 4.0, "1e9/L", 1.8, 7.5, "normal adult ANC 1.8-7.5e9/L (reference range)", "patient's baseline ANC", "lognormal", 0.25),
    P("r_hsc", 0.12, "1/day", 0.03, 0.3, "calibrated: PBSC 5e6 CD34/kg with G-CSF engrafts (ANC>0.5) at a median of day 8-11 (ms-outpatient-cy-rituximab-2019; ssc-nash-2007-phase2)", "maximal regrowth rate of the stem/progenitor reserve"),
    P("engraft_factor", 1.0, "1", 0.3, 3.0, "modelling assumption: patient-level variability of engraftment (range 2-14 days in ms-outpatient-cy-rituximab-2019)", "patient multiplier on graft seeding", "lognormal", 0.4),
    # --- lymphocytes ----------------------------------------------------------------------
    P("thymic_output", 0.16, "cells/uL/day", 0.01, 1.0, "set per patient from age (population.py): steady state naive CD4 about 400/uL (De Boer/Ribeiro TREC model, models.md 2.1), declining about 3%/year of age (Douek et al. 1998 Nature 396:690)", "thymic export of naive CD4 at thy = 1"),
    P("treg_thymic_frac", 0.08, "1", 0.03, 0.15, "thymic Treg are about 5-10% of CD4 single-positive output (modelling assumption; Treg about 5-10% of blood CD4)", "fraction of thymic output that is Treg"),
    P("k_thy_rec", LN2 / 60.0, "1/day", LN2 / 200.0, LN2 / 20.0, "thymic lag about 6 months before naive CD4 reappear (Dumont-Girard 1998; kin-cd4-reviews: 6-9 months)", "recovery rate of thymic function"),
    P("d_naive", LN2 / (4.2 * 365.0), "1/day", LN2 / (8.0 * 365.0), LN2 / (1.0 * 365.0), "naive CD4 half-life 4.2 y: Vrisekoop et al. 2008 PNAS 105:6115", "naive CD4 loss rate"),
    P("p_naive", 3.0e-4, "1/day", 1.0e-4, 1.0e-3, "naive CD4 turnover about 0.03%/day; post-thymic proliferation is a major source (Bains et al. 2009 Blood 113:5480)", "basal naive CD4 proliferation rate"),
    P("act_naive", 3.0e-4, "1/day", 1.0e-4, 1.0e-3, "modelling assumption: naive-to-memory conversion that sustains a memory pool of about 40% of CD4 in adults", "antigen-driven naive-to-memory conversion"),
    P("d_mem", LN2 / (0.4 * 365.0), "1/day", LN2 / (1.0 * 365.0), LN2 / (0.15 * 365.0), "memory CD4 half-life 0.4 y: Vrisekoop et al. 2008", "memory CD4 loss rate"),
    P("p_mem", 4.3e-3, "1/day", 2.0e-3, 6.0e-3, "memory CD4 divide about as often as they die (Vrisekoop 2008); value sets steady memory about 330/uL", "basal memory CD4 proliferation rate"),
    P("d_treg", LN2 / (0.3 * 365.0), "1/day", LN2 / (1.0 * 365.0), LN2 / (0.1 * 365.0), "modelling assumption: Treg turn over like memory cells (Vukmanovic-Stejic 2006 J Clin Invest 116:2423 shows rapid Treg turnover)", "Treg loss rate"),
    P("p_treg", 5.5e-3, "1/day", 2.0e-3, 8.0e-3, "modelling assumption: sets steady Treg about 60/uL (5-8% of CD4)", "basal Treg proliferation rate"),
    P("p_hom", 0.05, "1/day", 0.01, 0.15, "lymphopenia-induced proliferation: density-dependent recruitment, Yates et al. 2007 PLoS Med 4:e177 (a = 0.033/day); peripheral expansion dominates the first 3 months after aHSCT (Storek 2008)", "maximal homeostatic proliferation rate"),
    P("naive_hom_frac", 0.15, "1", 0.0, 1.0, "naive cells expand homeostatically less than memory cells; memory phenotype dominates the first months after aHSCT (Storek 2008; Muraro 2005 J Exp Med 201:805)", "relative homeostatic proliferation of naive CD4"),
    P("teff_hom_frac", 0.6, "1", 0.0, 1.0, "pre-existing CD4 memory clones are largely replaced after aHSCT in MS (Muraro et al. 2014 J Clin Invest 124:1168): surviving autoreactive clones expand less than the memory pool as a whole (modelling assumption for the value)", "relative homeostatic proliferation of autoreactive T cells"),
    P("l_half", 150.0, "cells/uL", 50.0, 400.0, "modelling assumption: homeostatic proliferation is half-maximal at a CD4 count of 150/uL and negligible at normal counts", "CD4 count giving half-maximal homeostatic proliferation"),
    # --- autoreactive compartment --------------------------------------------------------
    P("r_act", 0.03, "1/day", 0.005, 0.1, "calibrated so that untreated active disease is a stable state with teff = 1 (bistable Teff-Treg-inflammation loop: Velez de Mendizabal 2011; Alexander & Wahl 2011 R0 > 1)", "activation/expansion rate of autoreactive T cells", "lognormal", 0.25),
    P("d_teff", 0.005, "1/day", 0.002, 0.02, "autoreactive memory T cells, half-life about 5 months (memory CD4 0.4 y: Vrisekoop 2008)", "autoreactive T-cell loss rate"),
    P("teff_cap", 2.5, "relative", 1.5, 10.0, "modelling assumption: clonal expansion saturates (antigen limitation)", "carrying capacity of the autoreactive pool"),
    P("stim_base", 0.1, "1", 0.02, 0.3, "modelling assumption: antigen presentation without inflammation is low (tolerogenic)", "baseline antigen stimulation"),
    P("k_stim", 0.5, "relative", 0.2, 1.0, "modelling assumption: inflammation-driven antigen presentation half-maximal at half the active-disease level (epitope spreading positive feedback)", "inflammation giving half-maximal stimulation"),
    P("treg_sup", 60.0, "cells/uL", 20.0, 200.0, "modelling assumption: Treg at a normal count halve autoreactive expansion (Teff-Treg cross-regulation, Velez de Mendizabal 2011)", "Treg count giving 2-fold suppression"),
    P("b_help", 0.5, "1", 0.0, 2.0, "modelling assumption: B cells as antigen-presenting cells amplify T-cell activation (anti-CD20 efficacy in MS: Hauser 2017)", "B-cell contribution to T-cell stimulation"),
    P("auto_seed", 1.0e-4, "relative/day", 0.0, 1.0e-3, "modelling assumption: imperfect central tolerance exports a trickle of autoreactive cells (Velez de Mendizabal 2011)", "thymic export of autoreactive T cells"),
    P("k_bcell", LN2 / 30.0, "1/day", LN2 / 120.0, LN2 / 7.0, "modelling assumption: autoreactive B cells follow T help within weeks; B cells normal by 6 months after aHSCT (Storek 2008)", "autoreactive B-cell turnover"),
    P("b_cells_normal", 200.0, "cells/uL", 80.0, 500.0, "adult blood CD19+ B cells about 100-500/uL (flow-cytometry reference ranges, e.g. Morbach et al. 2010 Clin Exp Immunol 162:271); set point of the marrow's output", "patient's B-cell count at a normal marrow", "lognormal", 0.35),
    P("k_b_cells", 0.01, "1/day", 0.003, 0.05, "modelling assumption: circulating B cells, mostly naive, turn over at about 1%/day (deuterium labelling: slower for naive, faster for memory B cells, Macallan et al. 2005 Blood 105:3633); after depletion the marrow's output refills them over months (B cells recover within 6-12 months of rituximab: rituximab prescribing information, RA)", "turnover of circulating B cells"),
    P("k_plasma", LN2 / 365.0, "1/day", LN2 / (5 * 365.0), LN2 / 60.0, "long-lived plasma cells resist conditioning; serum Ig did not fall substantially within 2 years of aHSCT (Storek 2008)", "plasma-cell turnover"),
    P("k_autoab", LN2 / 21.0, "1/day", LN2 / 30.0, LN2 / 14.0, "IgG half-life about 21 days (textbook)", "autoantibody clearance"),
    # --- inflammation --------------------------------------------------------------------
    P("k_infl", 5.0, "1/day", 1.0, 20.0, "cytokines turn over in hours (IL-6 half-life < 1 day; Dwivedi et al. 2014 CPT:PSP 3:e89)", "turnover rate of the inflammatory signal"),
    P("infl_base", 0.03, "relative", 0.0, 0.2, "modelling assumption: background inflammation in health", "inflammation without autoreactivity"),
    P("infl_teff", 0.85, "relative", 0.3, 1.5, "modelling assumption: autoreactive T cells produce most of the disease inflammation", "inflammation per unit autoreactive T cells"),
    P("infl_tissue", 0.12, "relative/lesion", 0.0, 0.5, "modelling assumption: damaged tissue sustains some inflammation (damage-associated signals)", "inflammation per unit active tissue lesion"),
    # --- target organ ------------------------------------------------------------------
    P("tissue_attack", 0.015, "lesions/day", 0.002, 0.15, "calibrated: about 6-10 new T2 lesions a year in untreated active RRMS (placebo arms of AFFIRM, Polman 2006 NEJM 354:899; FREEDOMS, Kappos 2010 NEJM 362:387)", "new lesions per day at teff = 1 and full inflammation", "lognormal", 0.5),
    P("k_repair", LN2 / 21.0, "1/day", LN2 / 60.0, LN2 / 7.0, "gadolinium enhancement of a new MS lesion lasts about 3 weeks (Cotton et al. 2003 Neurology 60:640)", "resolution rate of active lesions"),
    P("irr_per_lesion", 0.012, "disease units/lesion", 0.0, 0.05, "calibrated: lesion-driven irreversible damage (disease module sets the unit)", "irreversible damage left by each lesion"),
    # --- infection hazard ----------------------------------------------------------------
    P("h_neutropenic", 0.035, "1/day", 0.005, 0.1, "calibrated: about 20-30% of aHSCT patients have a severe infection during aplasia; infections d0-15 = 23 in 56 patients (Storek 2008, kin-storek-immune-reconstitution)", "severe infection hazard while ANC << 0.5e9/L"),
    P("h_lymphopenic", 6.0e-4, "1/day", 1.0e-4, 3.0e-3, "0.21 infections per patient-year in months 7-24 after aHSCT (Storek 2008)", "severe infection hazard while CD4 << 200/uL"),
]


def core_parameter(name: str) -> Parameter:
    """The core's declaration of parameter ``name`` (for a disease that re-declares only its unit)."""
    return next(p for p in PARAMETERS if p.name == name)


def _sym(names: str):
    return sp.symbols(names)


def atg_effect(p: dict[str, sp.Symbol], atg: sp.Symbol, eatg: sp.Symbol) -> sp.Expr:
    """Fraction of the maximal ATG kill: rabbit and horse globulins act on the same targets, so their
    concentrations add in units of their own EC50 (Loewe additivity of two full agonists)."""
    x = atg / p["ec50_atg"] + p["eatg_per_mg_kg"] * eatg / p["ec50_eatg"]  # eatg is mg/kg, atg ug/mL
    return x / (1 + x)


def t_cell_kill(p: dict[str, sp.Symbol], cy: sp.Symbol, atg: sp.Symbol, eatg: sp.Symbol) -> sp.Expr:
    """Kill rate of T cells by cyclophosphamide and ATG (1/day)."""
    return p["kmax_cy_lymph"] * (cy / (cy + p["ec50_cy"])) + p["kmax_atg"] * atg_effect(p, atg, eatg)


def homeostatic_signal(p: dict[str, sp.Symbol], naive: sp.Symbol, mem: sp.Symbol, treg: sp.Symbol) -> sp.Expr:
    """Lymphopenia-induced (homeostatic) proliferation rate at the CD4 count naive + mem + treg (1/day): the
    cytokine signal (IL-7, IL-15) that also drives CAR-T expansion after lymphodepletion."""
    return p["p_hom"] / (1 + ((naive + mem + treg) / p["l_half"]) ** 4)


def autoreactive_expansion(p: dict[str, sp.Symbol], infl: sp.Symbol, bcell: sp.Symbol, treg: sp.Symbol,
                           teff: sp.Symbol) -> sp.Expr:
    """Antigen-driven expansion rate of the autoreactive T cells (1/day): stimulation rises with
    inflammation (positive feedback, hence bistability), autoreactive B cells help, Treg suppress,
    the clonal size saturates."""
    stim = (p["stim_base"] + infl**2 / (p["k_stim"] ** 2 + infl**2)) * (1 + p["b_help"] * bcell) / (1 + p["b_help"])
    return p["r_act"] * stim / (1 + treg / p["treg_sup"]) * (1 - teff / p["teff_cap"])


def b_cell_kill(p: dict[str, sp.Symbol], cy: sp.Symbol, atg: sp.Symbol, eatg: sp.Symbol, rtx: sp.Symbol,
                rtx_reach: sp.Expr = sp.Integer(1)) -> sp.Expr:
    """Kill rate of B cells by cyclophosphamide, ATG, rituximab and anti-CD20 maintenance (1/day).

    ``rtx_reach``: the anti-CD20 kill (rituximab courses and anti-CD20 maintenance) relative to its kill of
    blood B cells (1 in blood; below 1 in lymphoid tissue, which the antibody reaches poorly)."""
    c_rtx = p["rtx_per_mg_kg"] * rtx  # serum rituximab, ug/mL
    return (p["kmax_cy_lymph"] * (cy / (cy + p["ec50_cy"])) + p["atg_b_frac"] * p["kmax_atg"] * atg_effect(p, atg, eatg)
            + rtx_reach * (p["b_depletion"] + p["kmax_rtx"] * c_rtx / (c_rtx + p["ec50_rtx"])))


def core_module() -> Module:
    """The shared immune core as a :class:`Module`."""
    (cy, atg, eatg, rtx, dmt, hsc, prog, tr1, tr2, tr3, anc, thy, naive, mem, treg, teff, bcell, b_cells, plasma,
     autoab, infl, drev, dirr) = _sym("cy atg eatg rtx dmt hsc prog tr1 tr2 tr3 anc thy naive mem treg teff bcell b_cells "
                                      "plasma autoab infl drev dirr")
    p = {q.name: sp.Symbol(q.name) for q in PARAMETERS}

    kill_cy = cy / (cy + p["ec50_cy"])
    kill_t = t_cell_kill(p, cy, atg, eatg)
    kill_b = b_cell_kill(p, cy, atg, eatg, rtx)

    cd4 = naive + mem + treg
    hom = homeostatic_signal(p, naive, mem, treg)

    # Friberg chain fed by the stem/progenitor reserve; G-CSF speeds transit.
    ktr = 4 / p["mtt"] * (1 + p["gcsf_mtt_gain"] * p["gcsf"])
    feedback = (p["anc0"] / (anc + sp.Rational(1, 50))) ** p["fb_gamma"]

    expansion = autoreactive_expansion(p, infl, bcell, treg, teff)

    # New tissue lesions: autoreactive cells entering the organ under inflammation;
    # maintenance therapy removes a fraction 1 - exp(-resp * z) of them.
    attack = p["tissue_attack"] * teff * infl / (p["k_stim"] + infl) * sp.exp(-p["dmt_resp"] * dmt)

    rates = {
        "cy": -p["k_cy"] * cy,
        "atg": -p["k_atg"] * atg,
        "eatg": -p["k_eatg"] * eatg,
        "rtx": -p["k_rtx"] * rtx,
        "dmt": p["k_dmt"] * (p["dmt_target"] - dmt),
        "hsc": p["r_hsc"] * hsc * (1 - hsc) - p["kmax_cy_hsc"] * kill_cy * hsc,
        "prog": ktr * (hsc * feedback - prog) - p["kmax_cy_prog"] * kill_cy * prog,
        "tr1": ktr * (prog - tr1),
        "tr2": ktr * (tr1 - tr2),
        "tr3": ktr * (tr2 - tr3),
        "anc": ktr * (p["anc0"] * tr3 - anc),
        "thy": p["k_thy_rec"] * (1 - thy) - p["kmax_cy_thy"] * kill_cy * thy,
        "naive": p["thymic_output"] * (1 - p["treg_thymic_frac"]) * thy
        + (p["p_naive"] + p["naive_hom_frac"] * hom - p["d_naive"] - p["act_naive"] - kill_t) * naive,
        "mem": p["act_naive"] * naive + (p["p_mem"] + hom - p["d_mem"] - kill_t) * mem,
        "treg": p["thymic_output"] * p["treg_thymic_frac"] * thy + (p["p_treg"] + hom - p["d_treg"] - kill_t) * treg,
        "teff": p["auto_seed"] * thy + (expansion + p["teff_hom_frac"] * hom - p["d_teff"] - kill_t) * teff,
        "bcell": p["k_bcell"] * (teff - bcell) - kill_b * bcell,
        # the marrow's B-cell output follows the stem/progenitor reserve (B cells return after the graft)
        "b_cells": p["k_b_cells"] * (p["b_cells_normal"] * hsc - b_cells) - kill_b * b_cells,
        "plasma": p["k_plasma"] * (bcell - plasma) - 0.1 * p["kmax_cy_lymph"] * kill_cy * plasma,
        "autoab": p["k_autoab"] * (plasma - autoab),
        "infl": p["k_infl"] * ((1 - p["gc_effect"]) * (p["infl_base"] + p["infl_teff"] * teff * (1 + p["gcsf_flare"] * p["gcsf"])
                                                    + p["infl_tissue"] * drev) - infl),
        "drev": attack - p["k_repair"] * drev,
        "dirr": p["irr_per_lesion"] * attack,
        "cum_attack": attack,
        "cum_inf": p["h_neutropenic"] / (1 + (anc / sp.Rational(1, 2)) ** 4)
        + p["h_lymphopenic"] / (1 + (cd4 / 200) ** 2),
    }
    observables = {"cd4": cd4, "attack_rate": attack, "dmt_inhibition": 1 - sp.exp(-p["dmt_resp"] * dmt)}
    return Module("core", list(STATES), list(PARAMETERS), rates, observables)
