"""CAR-T cells in the model: antigen-driven expansion, contraction to a persisting memory pool,
killing of every cell that carries the target (CD19), and what that does to the shared core.

Every parameter carries units, a range and its source beside its definition. The module is
composed after the MSC module, so every earlier state and parameter keeps its index. All
CAR-T states stay exactly 0 unless a CAR-T protocol (:mod:`remit.therapies.car_t.plan`) infuses
cells, and every term added to the core's rates is a product with them, so without CAR-T the
rest of the model is unchanged. The two bookkeeping states that are not 0 without CAR-T
(``plasma_cd19``, ``vaccine_ab``) feed nothing back unless CAR-T cells are present.

The structure follows the cellular-kinetic models of CD19 CAR-T in B-cell malignancies (an
expanding effector pool driven by target cells, contracting into a long-lived memory pool:
Stein et al. 2019 CPT Pharmacometrics Syst Pharmacol 8:285; Liu et al. 2020 medRxiv
10.1101/2020.05.09.20096586, 218 patients of 7 trials), with the target the patient's own B cells: the core's circulating ``b_cells`` (the
antigen the CAR-T cells see) and its autoreactive ``bcell``. Lymphodepletion helps expansion
through the homeostatic cytokines that lymphopenia releases (IL-7, IL-15), read here from the
core's homeostatic-proliferation signal.

CD19 is carried by B cells and plasmablasts but lost by most long-lived plasma cells, so CAR-T
removes the CD19+ share of the autoreactive plasma cells (``plasma_cd19``, the share of the
core's ``plasma``) and leaves the CD19-negative long-lived plasma cells that make protective,
vaccine-induced antibodies (``vaccine_ab``) and part of the autoantibody.
"""

from __future__ import annotations

import sympy as sp

from remit.model.core import LN2, PARAMETERS, homeostatic_signal
from remit.model.spec import Module, Parameter, State

P = Parameter

CAR_STATES = [
    State("car_eff", "cells/uL", "CAR+ effector T cells in blood"),
    State("car_mem", "cells/uL", "CAR+ memory T cells in blood (the persisting pool after contraction)"),
    State("car_drive", "1", "proliferative drive of the infused CAR+ cells (1 at the infusion, then waning)"),
    State("plasma_cd19", "1", "CD19+ share (plasmablasts, short-lived plasma cells) of the autoreactive plasma "
          "cells counted in plasma"),
    State("vaccine_ab", "relative", "protective antibody titres from vaccination or past infection (1 = the "
          "patient's own level before treatment), made by CD19-negative long-lived plasma cells", 1.0),
]

CAR_PARAMETERS = [
    # --- cellular kinetics ---------------------------------------------------------------------
    P("car_blood_per_dose", 0.3, "(cells/uL)/(1e6 cells/kg)", 0.05, 14.0,
      "modelling assumption: 1e6 cells/kg in a 70-kg adult are 7e7 cells, 14/uL if all stayed in 5 L of blood; about "
      "2% of the body's lymphocytes circulate, so about 0.3/uL are in blood after the infusion",
      "blood CAR+ cells right after an infusion of 1e6 CAR+ cells/kg"),
    P("car_rho", 1.0, "1/day", 0.2, 2.0,
      "the expansion phase of the cellular-kinetic models of CD19 CAR-T (Stein et al. 2019 CPT Pharmacometrics Syst "
      "Pharmacol 8:285; Liu et al. 2020 medRxiv 10.1101/2020.05.09.20096586); value a modelling assumption: doubling "
      "in under a day while antigen lasts",
      "maximal antigen-driven expansion rate of CAR+ effector cells", "lognormal", 0.3),
    P("k_car_drive", LN2 / 7.0, "1/day", LN2 / 30.0, LN2 / 2.0,
      "after activation T cells follow a programmed burst of division of about 1-2 weeks that further antigen does "
      "not prolong (Kaech & Ahmed 2001 Nat Immunol 2:415); CD19 CAR-T cells peak in blood 1-2 weeks after the "
      "infusion and B cells then return without a second expansion in the autoimmune series (Mackensen et al. 2022 "
      "Nat Med 28:2124); half-life 1 week a modelling assumption",
      "waning rate of the infused cells' proliferative drive"),
    P("car_antigen_half", 20.0, "cells/uL", 5.0, 300.0,
      "modelling assumption: expansion is half-maximal at a tenth of a normal B-cell count, so that it stops once B "
      "cells are depleted (expansion persisting on the few B cells made during aplasia would keep B cells absent for "
      "years, unlike in the autoimmune series: Mackensen et al. 2022 Nat Med 28:2124)",
      "B-cell count giving half-maximal antigen-driven expansion"),
    P("car_hom_gain", 6.0, "1", 0.0, 10.0,
      "modelling assumption: lymphopenia after fludarabine/cyclophosphamide raises IL-7 and IL-15, which help CAR-T "
      "expansion and are why lymphodepletion is given (Turtle et al. 2016 J Clin Invest 126:2123: higher CAR-T peaks "
      "with fludarabine/cyclophosphamide than with cyclophosphamide alone); calibrated to that fact: lymphodepletion "
      "also removes B cells, the antigen, and a smaller gain left the peak lower with it than without it "
      "(tests/test_car_t.py); at a CD4 count of l_half the signal is half its maximum (p_hom)",
      "relative rise of antigen-driven CAR+ expansion at the core's maximal homeostatic-proliferation signal"),
    P("k_car_contract", 0.12, "1/day", 0.02, 0.5,
      "the contraction phase of the cellular-kinetic models (Stein et al. 2019; Liu et al. 2020); value a modelling "
      "assumption (effectors halve in about 3 days once expansion stops), half the contracting cells die "
      "(d_car_eff) and half become memory",
      "effector-to-memory conversion rate of CAR+ cells"),
    P("d_car_eff", 0.12, "1/day", 0.02, 0.5,
      "see k_car_contract", "death rate of CAR+ effector cells"),
    P("d_car_mem", LN2 / 30.0, "1/day", LN2 / 365.0, LN2 / 7.0,
      "calibrated: B cells reappeared a mean 110 +- 32 days after CD19 CAR-T in lupus (Mackensen et al. 2022 Nat Med "
      "28:2124), when the persisting pool's killing ends; memory CAR-T half-life about a month",
      "loss rate of CAR+ memory cells", "lognormal", 0.3),
    P("car_kmax", 4.0, "1/day", 0.3, 10.0,
      "modelling assumption: blood B cells were gone within 7 days of CD19 CAR-T in systemic sclerosis (Erlangen "
      "series, ACR Convergence 2023 abstract) and B-cell depletion was deep (Mackensen et al. 2022 Nat Med 28:2124): "
      "faster than under rituximab (kmax_rtx 0.5/day), and reaching lymphoid tissue, which antibodies reach poorly",
      "maximal kill rate of CD19+ cells by CAR-T cells"),
    P("car_ec50", 1.0, "cells/uL", 0.05, 10.0,
      "modelling assumption: a few CAR+ cells per uL keep B cells absent; B cells return once the persisting pool "
      "falls well below this level",
      "blood CAR+ level giving half-maximal killing of CD19+ cells"),
    # --- plasma cells and antibodies --------------------------------------------------------------
    P("plasma_cd19_frac", 0.8, "1", 0.3, 1.0,
      "CD19-negative plasma cells are a minority of bone-marrow plasma cells and carry the long-lived vaccine "
      "specificities (Halliley et al. 2015 Immunity 43:132; Mei et al. 2015 Blood 125:1739); anti-dsDNA seroconverted "
      "after CD19 CAR-T in lupus (Mackensen et al. 2022 Nat Med 28:2124), so most autoantibody output is CD19+: "
      "value a modelling assumption",
      "CD19+ share of the autoreactive plasma-cell output"),
    P("k_plasma_cd19", LN2 / 5.0, "1/day", LN2 / 30.0, LN2 / 1.0,
      "plasmablasts and short-lived plasma cells live days (Nutt et al. 2015 Nat Rev Immunol 15:160); half-life "
      "5 days a modelling assumption",
      "renewal rate of the CD19+ share of the autoreactive plasma cells"),
    P("plasma_cd19_b_half", 0.05, "relative", 0.005, 0.5,
      "modelling assumption: new CD19+ plasmablasts come from B cells, so their share is renewed only while B cells "
      "are present (half-renewal at 5% of the autoreactive B cells of active disease)",
      "autoreactive B-cell level giving half the renewal of the CD19+ plasma-cell share"),
    P("k_vaccine_ab", LN2 / (11.0 * 365.0), "1/day", LN2 / (200.0 * 365.0), LN2 / (3.0 * 365.0),
      "antibody half-lives of 11 years (tetanus) to over 200 years (measles) after vaccination or infection (Amanna "
      "et al. 2007 NEJM 357:1903); tetanus taken",
      "decay rate of protective antibody titres without renewal from B cells"),
    # --- serum IgG (observation: remit.therapies.car_t.observe) ------------------------------------
    P("igg_normal", 11.0, "g/L", 7.0, 16.0,
      "adult serum IgG reference range about 7-16 g/L (laboratory reference)",
      "patient's serum IgG with a normal B-cell compartment and untouched long-lived plasma cells", "lognormal", 0.2),
    P("igg_long_lived_share", 0.7, "1", 0.3, 0.95,
      "modelling assumption: most serum IgG comes from long-lived bone-marrow plasma cells, which survive B-cell "
      "depletion (Halliley et al. 2015 Immunity 43:132), the rest from short-lived plasma cells renewed from B cells; "
      "so total IgG falls during B-cell aplasia by less than a third while vaccine titres stay (Bhoj et al. 2016 "
      "Nature 536:101)",
      "share of serum IgG made by long-lived plasma cells"),
    # --- cytokine release syndrome and ICANS (observation: remit.therapies.car_t.observe) ----------
    P("crs_peak_half", 0.6, "cells/uL", 0.05, 50.0,
      "set by hand against the lupus series: CRS, mostly grade 1, in 3 of 5 (Mackensen et al. 2022 Nat Med 28:2124, "
      "per a review's table) and 11 of 15 patients (Muller et al. 2024 NEJM 390:687, per secondary summaries); its "
      "severity rises with the CAR-T peak (Hay et al. 2017 Blood 130:2295)",
      "peak blood CAR+ level at which half of patients have any-grade CRS"),
    P("crs_sd", 1.0, "1", 0.3, 2.0,
      "modelling assumption: patients differ about e-fold in their cytokine response to one CAR-T peak",
      "log-scale patient variability of the CRS response"),
    P("crs_grade_step", 2.5, "1", 0.5, 5.0,
      "modelling assumption: each ASTCT grade (Lee et al. 2019 Biol Blood Marrow Transplant 25:625) needs an about "
      "12-fold (e^2.5) higher CAR-T-driven cytokine response than the one below, so grade 3 or more is rare at the "
      "CAR-T peaks of autoimmune disease and common at the peaks of bulky lymphoma (Hay et al. 2017 Blood 130:2295)",
      "log-scale step of the CRS response between consecutive grades"),
    P("icans_offset", 3.0, "1", 0.5, 6.0,
      "calibrated: ICANS far rarer than CRS in autoimmune CAR-T series (Muller et al. 2024 NEJM 390:687) and "
      "following CRS severity (Gust et al. 2017 Cancer Discov 7:1404)",
      "log-scale margin of the CRS response below which no ICANS occurs"),
]


def car_kill(p: dict[str, sp.Symbol], eff: sp.Symbol, mem: sp.Symbol) -> sp.Expr:
    """Kill rate of every CD19+ cell by the CAR+ cells in blood, effector and memory (1/day)."""
    car = eff + mem
    return p["car_kmax"] * car / (car + p["car_ec50"])


def car_t_module() -> Module:
    """CAR-T: expansion on antigen and lymphopenia, contraction to memory, killing of CD19+ cells."""
    eff, mem, drive, pc19, vab, b_cells, bcell, plasma, naive, memc, treg = sp.symbols(
        "car_eff car_mem car_drive plasma_cd19 vaccine_ab b_cells bcell plasma naive mem treg")
    p = {q.name: sp.Symbol(q.name) for q in PARAMETERS + CAR_PARAMETERS}
    car = eff + mem
    kill = car_kill(p, eff, mem)
    hom = homeostatic_signal(p, naive, memc, treg)  # the core's (lymphopenia)
    growth = p["car_rho"] * drive * b_cells / (b_cells + p["car_antigen_half"]) * (1 + p["car_hom_gain"] * hom / p["p_hom"])
    rates = {
        "car_eff": (growth - p["k_car_contract"] - p["d_car_eff"]) * eff,
        "car_mem": p["k_car_contract"] * eff - p["d_car_mem"] * mem,
        "car_drive": -p["k_car_drive"] * drive,
        # the CD19+ share: renewed from B cells towards plasma_cd19_frac, lost to killing (stays in [0, 1])
        "plasma_cd19": p["k_plasma_cd19"] * (p["plasma_cd19_frac"] * bcell / (bcell + p["plasma_cd19_b_half"]) - pc19)
        - kill * pc19,
        # renewal from memory B cells, which CAR-T removes with the other B cells
        "vaccine_ab": p["k_vaccine_ab"] * (b_cells / p["b_cells_normal"] - vab),
        # on the core: every CD19+ cell is killed at the same rate; the CD19+ plasma cells killed leave plasma
        "b_cells": -kill * b_cells,
        "bcell": -kill * bcell,
        "plasma": -kill * pc19 * plasma,
    }
    observables = {"car_t_cells": car, "car_kill": kill}
    return Module("car_t", list(CAR_STATES), list(CAR_PARAMETERS), rates, observables)
