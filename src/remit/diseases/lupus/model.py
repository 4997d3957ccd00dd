"""Systemic lupus erythematosus on the shared core: nephritis, systemic organ activity, serology.

The core's target organ is the kidney: ``drev`` is active (reversible) lupus nephritis,
expressed as the proteinuria it causes (g/day); ``cum_attack`` integrates new renal injury
(g/day of proteinuria per day, the driver of renal flares); ``dirr`` is chronic renal damage,
expressed as the fixed proteinuria it leaves (g/day). Renal injury in lupus is driven by
immune complexes of autoantibody deposited in glomeruli together with the effector
inflammation they trigger (Budu-Grajdeanu et al. 2010 Theor Biol Med Model 7:14), so this
module makes the core's renal attack scale partly with the autoantibody titre.

It adds the state ``sys``: non-renal organ activity (skin, joints, serosa, blood,
central nervous system), which follows the core's inflammatory signal within weeks and,
like renal injury, is suppressed by maintenance therapy only while it is given. The
systemic MSC effect (``msc_effect`` of the MSC module, 0 unless MSC are given) suppresses
both renal injury and non-renal organ activity while it lasts.

A second state, ``b_apc``, carries T-B collaboration: in lupus the autoreactive T cells need B
cells as antigen-presenting cells (Shlomchik et al. 1994; Chan et al. 1999, in MRL/lpr mice).
``b_apc`` is the B cells of lymphoid tissue and the kidney relative to untreated, renewed from
the marrow and depleted like blood B cells, except that rituximab reaches them poorly and CD19
CAR-T cells fully. Where they are gone the B-cell-dependent share of the autoreactive T cells
stops expanding and is lost within weeks; once the repertoire has collapsed below the core's
threshold of self-sustaining activity, B cells that return do not restart it. Both terms
nearly vanish while ``b_apc`` stays near its untreated level (order-2 saturation), so untreated
disease and maintenance therapy barely change. Fludarabine's kill of tissue B cells is not
modelled (its effect is on the circulating pools).

The remaining parameters are observation parameters used by :mod:`remit.diseases.lupus.clinical`
(not by the ODE): SLEDAI-2K item probabilities, proteinuria, anti-dsDNA and complement C3
measurement, renal flares and disease-related death.
"""

from __future__ import annotations

import sympy as sp

from remit.model.core import LN2
from remit.model.core import PARAMETERS as CORE_PARAMETERS
from remit.model.core import autoreactive_expansion, b_cell_kill, core_module
from remit.model.spec import Module, Parameter, State
from remit.therapies.car_t.model import CAR_PARAMETERS, car_kill

P = Parameter

STATES = [
    State("sys", "relative", "non-renal lupus organ activity: skin, joints, serosa, blood, CNS (1 = active disease)"),
    State("b_apc", "relative", "B cells in lymphoid tissue and the kidney, where they present autoantigen to T cells "
          "(1 = untreated)", 1.0),
]

PARAMETERS = [
    P("k_sys", LN2 / 14.0, "1/day", LN2 / 60.0, LN2 / 3.0,
      "modelling assumption: rash, arthritis and serositis settle over 2-4 weeks once inflammation is controlled "
      "(the usual interval of glucocorticoid response assessment)",
      "rate at which non-renal organ activity follows the inflammatory signal"),
    P("ic_renal_weight", 0.5, "1", 0.0, 1.0,
      "modelling assumption: half of renal injury scales with circulating autoantibody (immune-complex deposition "
      "in glomeruli drives lupus nephritis: Budu-Grajdeanu et al. 2010 Theor Biol Med Model 7:14), half with the "
      "effector T-cell response alone",
      "fraction of the renal attack proportional to the autoantibody titre"),
    P("msc_sle_organ", 2.0, "1", 0.0, 3.0,
      "calibrated: after two infusions of 1e6/kg umbilical cord MSC, SLEDAI fell by 3 months and BILAG renal, "
      "haematological and cutaneous scores improved (sle-wang-2014-ucmsc-multicentre); the effect is read from the "
      "core's systemic MSC effect (0 without MSC), so it fades as that effect wanes",
      "log-suppression of lupus organ activity (non-renal organs and renal injury) at full systemic MSC effect"),
    P("t_b_dependence", 0.9, "1", 0.0, 1.0,
      "MRL/lpr mice without B cells develop no nephritis and far fewer activated T cells (Shlomchik et al. 1994 "
      "J Exp Med 180:1295), and B cells that cannot secrete antibody still drive both (Chan et al. 1999 J Exp Med "
      "189:1639): autoreactive T cells in lupus need B cells as antigen-presenting cells; deep B-cell depletion by "
      "CD19 CAR-T put refractory SLE into drug-free remission (Mackensen et al. 2022 Nat Med 28:2124). Value a "
      "modelling assumption (other antigen-presenting cells carry the rest)",
      "share of the autoreactive T cells' antigen-driven expansion that needs B-cell antigen presentation"),
    P("d_teff_no_b", LN2 / 14.0, "1/day", LN2 / 60.0, LN2 / 3.0,
      "T follicular helper cells need persisting antigen and germinal-centre B cells to keep their phenotype, which "
      "they lose within weeks without them (Baumjohann et al. 2013 Immunity 38:596); half-life 2 weeks a modelling "
      "assumption (after CD19 CAR-T, SLEDAI-2K fell to 0 within 3 months in 5 of 5: Mackensen et al. 2022 Nat Med "
      "28:2124)",
      "extra loss rate of the B-cell-dependent share of autoreactive T-cell activity where B cells are gone"),
    P("b_apc_half", 0.05, "relative", 0.01, 0.3,
      "modelling assumption: B cells are abundant antigen-presenting cells, so their function fails only under deep "
      "depletion (sigmoid of order 2: maintenance therapy halving them leaves 99% of it)",
      "tissue B-cell level (relative to untreated) giving half their antigen-presenting function"),
    P("rtx_tissue_reach", 0.05, "1", 0.0, 0.3,
      "a dose of rituximab removes blood B cells but does not deplete those in lymph nodes (Kamburova et al. 2013 Am "
      "J Transplant 13:1503); in sequential lymph-node biopsies B cells were gone after CD19 CAR-T and kept after "
      "rituximab in patients without blood B cells (Tur et al. 2024 Ann Rheum Dis, doi:10.1136/ard-2024-226142). "
      "Value a modelling assumption (5%: under rituximab given throughout, tissue B cells stay at about 40% of "
      "their untreated level while blood B cells fall 15-fold, so rituximab does not reset lupus the way CD19 "
      "CAR-T does; rituximab added to mycophenolate did not raise "
      "renal response in lupus nephritis: LUNAR, Rovin et al. 2012 Arthritis Rheum 64:1215)",
      "anti-CD20 kill rate (rituximab courses and maintenance) of tissue B cells relative to that of blood B cells"),
    # --- observation parameters (remit.diseases.lupus.clinical) ---------------------------------
    P("sledai_gain", 1.0, "1", 0.3, 3.0,
      "modelling assumption: patients differ in how many non-renal organs are involved (manifestation frequencies "
      "differ widely between patients: Cervera et al. 1993 Medicine 72:113, Euro-Lupus cohort of 1000 patients)",
      "patient multiplier on the probabilities of non-renal SLEDAI-2K items", "lognormal", 0.4),
    P("sys_half", 1.0, "relative", 0.3, 2.0,
      "modelling assumption: sigmoid of order 2; untreated active disease settles near organ activity 1.5-2 in "
      "this model, where items are at about 70-80% of their maximal probability",
      "organ activity giving half-maximal non-renal item probability"),
    P("renal_half", 1.0, "g/day", 0.3, 3.0,
      "modelling assumption: active urinary sediment (haematuria, casts, pyuria) present in most patients with "
      "nephritic proteinuria above 1 g/day",
      "active-nephritis proteinuria giving half-maximal urinary-sediment item probability"),
    P("proteinuria_normal", 0.08, "g/day", 0.03, 0.15,
      "normal urinary protein excretion below 0.15 g/day (KDIGO 2012 CKD guideline)",
      "proteinuria without nephritis", "lognormal", 0.3),
    P("proteinuria_cv", 0.2, "1", 0.1, 0.5,
      "24-hour urine protein varies by about 20-30% between repeated collections (intra-individual variability; "
      "modelling assumption within that range)",
      "log-scale measurement variability of proteinuria"),
    P("dsdna_scale", 80.0, "IU/mL", 10.0, 600.0,
      "modelling assumption: anti-dsDNA of active lupus nephritis typically 100-300 IU/mL by ELISA "
      "(kit-dependent; untreated active disease settles near autoantibody state 2 in this model); wide spread",
      "anti-dsDNA titre per unit autoantibody state", "lognormal", 0.7),
    P("dsdna_cutoff", 30.0, "IU/mL", 10.0, 100.0,
      "modelling assumption: a common ELISA positivity cut-off (kit-dependent: 10-30 IU/mL)",
      "anti-dsDNA positivity threshold (SLEDAI-2K item 'increased DNA binding')"),
    P("c3_normal", 1.2, "g/L", 0.9, 1.8,
      "adult serum C3 reference range about 0.9-1.8 g/L (laboratory reference)",
      "patient's C3 without immune-complex consumption", "lognormal", 0.12),
    P("c3_consumption", 0.45, "1", 0.05, 2.0,
      "modelling assumption: C3 about 0.6-0.7 g/L in active lupus nephritis (classical-pathway consumption by "
      "immune complexes)",
      "relative C3 consumption per unit autoantibody", "lognormal", 0.5),
    P("c3_lln", 0.9, "g/L", 0.75, 0.95,
      "lower limit of normal of serum C3 (laboratory reference about 0.9 g/L)",
      "C3 threshold of the SLEDAI-2K item 'low complement'"),
    P("albumin_normal", 42.0, "g/L", 35.0, 50.0,
      "adult serum albumin reference range about 35-50 g/L (laboratory reference)",
      "patient's serum albumin without urinary protein loss", "lognormal", 0.06),
    P("albumin_loss_max", 25.0, "g/L", 10.0, 35.0,
      "modelling assumption: the liver's synthesis compensates part of urinary loss, so albumin falls towards a floor "
      "of about 15-20 g/L in heavy proteinuria",
      "largest fall of serum albumin from urinary protein loss"),
    P("albumin_prot_half", 3.5, "g/day", 1.0, 10.0,
      "nephrotic syndrome: proteinuria > 3.5 g/day with serum albumin < 30 g/L (KDIGO 2021 glomerular diseases "
      "guideline); with albumin_loss_max this puts albumin near 30 g/L at 3.5 g/day",
      "proteinuria giving half of the largest albumin fall"),
    P("albumin_test_sd", 2.0, "g/L", 0.5, 4.0,
      "modelling assumption: assay and within-person variation of serum albumin about 4-5% (about 2 g/L)",
      "visit-to-visit variability of measured serum albumin"),
    P("renal_flare_per_injury", 0.04, "flares/(g/day)", 0.005, 0.3,
      "calibrated: with active nephritis (about 12 g/day of new proteinuria-equivalent injury a year) about 0.5 renal "
      "flares a year untreated, and about 0.05-0.1 a year on maintenance (MAINTAIN: renal flares 19-25% over about "
      "4 years, Houssiau et al. 2010 Ann Rheum Dis 69:2083)",
      "renal flares per unit of new renal injury"),
    P("sle_death_rate", 0.08, "1/year", 0.0, 0.2,
      "calibrated: refractory active SLE, 3 deaths in 40 patients in 12 months on MSC (sle-wang-2014-ucmsc-multicentre), "
      "5 of 87 over a mean of 27 months (sle-wang-2013-4y)",
      "disease-related death hazard at full disease activity"),
]

# Re-declared core parameters: the kidney is the target organ.
OVERRIDES = [
    P("tissue_attack", 0.016, "(g/day)/day", 0.002, 0.15,
      "calibrated: proteinuria of active lupus nephritis about 2-5 g/day at steady renal injury (ALMS baseline "
      "urine protein/creatinine about 4 g/g: Appel et al. 2009 J Am Soc Nephrol 20:1103); set near 0 in "
      "patients without nephritis (remit.diseases.lupus.clinical)",
      "new renal injury (proteinuria-equivalent) per day at teff = 1 and full inflammation", "lognormal", 0.5),
    P("k_repair", LN2 / 60.0, "1/day", LN2 / 180.0, LN2 / 14.0,
      "modelling assumption: proteinuria halves in about 2 months on effective induction, renal response being "
      "assessed at 6-12 months (ALMS 24-week response 56% on mycophenolate, 53% on IV cyclophosphamide: Appel et al. "
      "2009 J Am Soc Nephrol 20:1103)",
      "resolution rate of active nephritis"),
    P("irr_per_lesion", 0.006, "(g/day)/(g/day)", 0.0, 0.05,
      "modelling assumption: about 0.1 g/day of fixed proteinuria (chronic damage) per year of uncontrolled "
      "nephritis; chronicity accrues with each flare (Hao et al. 2014 PNAS 111:14193 model of progression to fibrosis)",
      "chronic damage (fixed proteinuria) left per unit of renal injury"),
    P("auto_seed", 4.0e-4, "relative/day", 0.0, 1.0e-3,
      "calibrated: SLE is strongly heritable, so the repertoire renewed after aHSCT keeps producing autoreactive "
      "clones; about half of patients stay disease-free 5 years after aHSCT (sle-burt-2006-unverified: disease-free "
      "survival 50% at 5 years) while others relapse over years. Patients differ (genetic load: modelling assumption)",
      "thymic export of autoreactive T cells", "lognormal", 0.5),
    P("infl_tissue", 0.04, "relative/(g/day)", 0.0, 0.2,
      "modelling assumption: active nephritis adds a little to systemic inflammation per g/day of proteinuria",
      "inflammation per unit active nephritis"),
]

# Units of the core's target-organ states in lupus: renal injury as the proteinuria it causes.
STATE_UNITS = {"drev": "g/day", "cum_attack": "g/day", "dirr": "g/day"}


def module() -> Module:
    """Lupus additions to the core: immune-complex renal injury, non-renal organ activity, T-B collaboration."""
    sys_, infl, dmt, autoab, teff = sp.symbols("sys infl dmt autoab teff")
    k_sys, w, resp, irr = sp.symbols("k_sys ic_renal_weight dmt_resp irr_per_lesion")
    msc_eff, msc_gain = sp.symbols("msc_effect msc_sle_organ")  # msc_effect: declared by the MSC module (0 without MSC)
    core_attack = core_module().observables["attack_rate"]  # the core's renal attack (already reduced by therapy)
    # renal attack becomes core_attack * ((1 - w) + w * autoab): never negative for w <= 1
    # MSC suppression of renal injury, exp(-gain * effect) - 1 (exactly 0 without MSC)
    renal = core_attack * (1 - w + w * autoab)
    extra = w * (autoab - 1) * core_attack + renal * (sp.exp(-msc_gain * msc_eff) - 1)
    rates = {
        "sys": k_sys * (infl * sp.exp(-resp * dmt - msc_gain * msc_eff) - sys_),
        "drev": extra,
        "cum_attack": extra,
        "dirr": irr * extra,
    }
    # T-B collaboration: tissue B cells are renewed from the marrow like blood B cells and depleted like them,
    # by rituximab only in part; the autoreactive T cells' antigen-driven expansion fails where they are gone
    # (nearly 0 in untreated disease, so the steady states without deep B-cell depletion barely move)
    b_apc, hsc, cy, atg, eatg, rtx, bcell, treg, car_eff, car_mem = sp.symbols(
        "b_apc hsc cy atg eatg rtx bcell treg car_eff car_mem")  # car_eff, car_mem: the CAR-T module's (0 without it)
    p = {q.name: sp.Symbol(q.name) for q in CORE_PARAMETERS + CAR_PARAMETERS + PARAMETERS}
    tissue_kill = b_cell_kill(p, cy, atg, eatg, rtx, p["rtx_tissue_reach"]) + car_kill(p, car_eff, car_mem)
    presenting = b_apc**2 / (b_apc**2 + p["b_apc_half"] ** 2) * (1 + p["b_apc_half"] ** 2)
    rates["b_apc"] = p["k_b_cells"] * (hsc - b_apc) - tissue_kill * b_apc
    rates["teff"] = (-p["t_b_dependence"] * (1 - presenting)
                     * (autoreactive_expansion(p, infl, bcell, treg, teff) + p["d_teff_no_b"]) * teff)
    observables = {"renal_attack": renal * sp.exp(-msc_gain * msc_eff)}
    return Module("lupus", list(STATES), list(PARAMETERS), rates, observables, overrides=list(OVERRIDES),
                  state_units=STATE_UNITS)
