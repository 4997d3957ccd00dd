"""Mesenchymal stromal cells in the model: short-lived infused cells drive a saturating paracrine
effect that outlasts them and induces (unstable) Treg, damps inflammation and speeds lesion
resolution. Every parameter carries units, a range and its source beside its definition."""

from __future__ import annotations

import sympy as sp

from remit.model.core import LN2, PARAMETERS, t_cell_kill
from remit.model.spec import Module, Parameter, State

P = Parameter

# Composed after the disease module (remit.diseases.build_model), so that the indices of every
# earlier state and parameter stay what they were before MSC existed. All MSC states stay
# exactly 0 unless an MSC protocol (remit.therapies.msc.plan) doses them.

MSC_STATES = [
    State("msc_sys", "1e6 cells/kg", "viable MSC after intravenous infusion (mostly trapped in the lungs)"),
    State("msc_local", "1e6 cells/kg", "viable MSC at a local injection site (e.g. a perianal fistula tract)"),
    State("msc_cns", "1e6 cells/kg", "viable MSC in the cerebrospinal fluid after intrathecal injection"),
    State("msc_effect", "1", "systemic paracrine/immunomodulatory effect of MSC (0 = none, 1 = maximal)"),
    State("msc_local_effect", "1", "paracrine effect of MSC at the local injection site (0 = none, 1 = maximal); read by disease modules"),
    State("msc_treg", "cells/uL", "MSC-induced Treg: the part of the Treg pool (already counted in treg) that MSC induced"),
]

MSC_PARAMETERS = [
    # Pharmacokinetics: cells are short-lived after IV infusion, longer-lived locally.
    P("k_msc_sys", LN2 / 0.5, "1/day", LN2 / 3.0, LN2 / 0.1,
      "IV MSC are trapped in the lungs and no viable cells remain after about 24 h (Eggenhofer et al. 2012 Front Immunol 3:297); "
      "human tracking shows initial lung accumulation, then redistribution of labelled material to liver and spleen "
      "(Sanchez-Diaz et al. 2021 J Clin Med 10:2925, systematic review). Half-life 12 h: modelling assumption within that range",
      "clearance rate of viable MSC after intravenous infusion"),
    P("k_msc_local", LN2 / 10.0, "1/day", LN2 / 42.0, LN2 / 3.0,
      "modelling assumption: cells injected into tissue stay local (intramuscular, intra-articular and intralesional MSC lack "
      "systemic biodistribution: Sanchez-Diaz et al. 2021 J Clin Med 10:2925) and survive for weeks rather than hours",
      "clearance rate of MSC at a local injection site"),
    P("k_msc_cns", LN2 / 3.0, "1/day", LN2 / 14.0, LN2 / 0.5,
      "modelling assumption: MSC in the cerebrospinal fluid escape lung trapping and survive days (no human viability data)",
      "clearance rate of MSC in the cerebrospinal fluid"),
    P("msc_persist", 1.0, "1", 0.2, 5.0,
      "set per cell source by remit.therapies.msc.plan (1 = bone-marrow MSC)",
      "persistence multiplier of the infused cells (divides their clearance rates)"),
    # Pharmacodynamics: a paracrine signal that outlasts the cells, saturating in cell dose.
    P("msc_ec50", 1.0, "1e6 cells/kg", 0.2, 5.0,
      "calibrated to saturation at usual doses: IV dose-escalation found no gain from 1 to 4e6 cells/kg (Cx611 in RA: ACR20 at "
      "month 1 45%, 20%, 33% at 1, 2, 4e6/kg vs 29% placebo; Alvaro-Gracia et al. 2017 Ann Rheum Dis 76:196); most trials "
      "give 1-2e6/kg (e.g. Connick et al. 2012 Lancet Neurol 11:150, mean 1.6e6/kg)",
      "viable-cell level giving half-maximal paracrine signalling (Emax in cell dose)"),
    P("k_msc_on", 1.0, "1/day", 0.2, 5.0,
      "modelling assumption: at saturating cell levels the systemic effect builds within days (cells live about a day); "
      "with msc_ec50 = 1 a single 1-2e6/kg IV dose gives about half the maximal effect",
      "build-up rate of the systemic MSC effect at saturating cell levels"),
    P("k_msc_effect", LN2 / 30.0, "1/day", LN2 / 120.0, LN2 / 10.0,
      "effects outlast the cells but wane within about 3 months of the last infusion (Cx611: ACR20 45% at month 1, 25% at "
      "month 3 after 1e6/kg on days 1, 8, 15; Alvaro-Gracia et al. 2017 Ann Rheum Dis 76:196); half-life 30 days: "
      "calibrated to that decline",
      "decay rate of the systemic MSC effect", "lognormal", 0.4),
    P("msc_cns_gain", 1.0, "1", 0.0, 3.0,
      "modelling assumption: cells in the CSF signal to the CNS target organ as strongly per cell as lung-trapped cells do "
      "systemically (in a meta-analysis of autologous MSC in MS, intrathecal injection was associated with less progression at "
      "6 and 12 months: Zhou et al. 2019 Stem Cells Int 2019:8536785)",
      "weight of CSF cells in the systemic/target-organ MSC signal"),
    P("k_msc_local_on", 0.1, "1/day", 0.02, 1.0,
      "modelling assumption: the local effect builds over weeks while the injected cells persist (fistula closure in ADMIRE-CD "
      "assessed at week 24: Panes et al. 2016 Lancet 388:1281)",
      "build-up rate of the local MSC effect at saturating cell levels"),
    P("k_msc_local_effect", LN2 / 60.0, "1/day", LN2 / 365.0, LN2 / 14.0,
      "modelling assumption: local healing persists for months (ADMIRE-CD combined remission 50% vs 34% at week 24, Panes et al. "
      "2016 Lancet 388:1281, largely maintained at week 52, Panes et al. 2018 Gastroenterology 154:1334)",
      "decay rate of the local MSC effect", "lognormal", 0.4),
    P("msc_treg_prod", 0.3, "cells/uL/day", 0.0, 2.0,
      "modelling assumption: MSC induce regulatory T cells (via monocyte/macrophage reprogramming, TGF-beta, PGE2); a "
      "sustained full effect keeps msc_treg_prod/k_msc_treg_loss, about 13/uL (about 20% of a normal 60/uL), induced Treg; "
      "a single dose adds a few cells/uL for weeks",
      "Treg induction rate at full systemic MSC effect"),
    P("k_msc_treg_loss", LN2 / 30.0, "1/day", LN2 / 180.0, LN2 / 7.0,
      "peripherally induced (TGF-beta-induced) Treg have an incompletely demethylated FOXP3 locus and lose FOXP3 readily, "
      "unlike thymic Treg (Floess et al. 2007 PLoS Biol 5:e38); half-life 30 days: modelling assumption",
      "loss rate of MSC-induced Treg (FOXP3 instability), on top of the Treg pool's own turnover"),
    P("msc_infl_damp", 0.5, "1", 0.0, 3.0,
      "modelling assumption: MSC-secreted mediators (e.g. TSG-6, IL-1RA, PGE2) speed the removal of inflammatory signal; kept "
      "modest because a single IV dose did not significantly reduce gadolinium-enhancing lesions in MS (MESEMS, Uccelli et al. "
      "2021 Lancet Neurol 20:917)",
      "relative increase of inflammatory-signal clearance at full systemic MSC effect"),
    P("msc_repair_gain", 1.0, "1", 0.0, 3.0,
      "modelling assumption: trophic/pro-repair MSC signals at most double the resolution rate of active tissue lesions",
      "relative increase of active-lesion resolution at full systemic MSC effect"),
]


def msc_module() -> Module:
    """Mesenchymal stromal cells: short-lived cells, a paracrine effect that outlasts them.

    Cells enter ``msc_sys`` (IV), ``msc_local`` (local injection) or ``msc_cns``
    (intrathecal) by protocol events and are cleared first order. While present they
    drive an effect variable through an Emax function of the viable-cell level (so that
    the effect saturates in dose) which decays over weeks once the cells are gone. The
    systemic effect induces Treg (tracked in ``msc_treg`` so that they can lose FOXP3 and
    fade), speeds clearance of the inflammatory signal and speeds resolution of active
    lesions; the local effect is an output for disease modules
    (e.g. fistula healing). Every added term is a product with an MSC state, so with no
    MSC given the added terms are exactly zero and the rest of the model is unchanged.
    """
    msc_sys, msc_local, msc_cns, eff, leff, itreg, cy, atg, eatg, infl, drev = sp.symbols(
        "msc_sys msc_local msc_cns msc_effect msc_local_effect msc_treg cy atg eatg infl drev")
    p = {q.name: sp.Symbol(q.name) for q in PARAMETERS + MSC_PARAMETERS}
    signal = msc_sys + p["msc_cns_gain"] * msc_cns
    rates = {
        "msc_sys": -p["k_msc_sys"] / p["msc_persist"] * msc_sys,
        "msc_local": -p["k_msc_local"] / p["msc_persist"] * msc_local,
        "msc_cns": -p["k_msc_cns"] / p["msc_persist"] * msc_cns,
        "msc_effect": p["k_msc_on"] * signal / (signal + p["msc_ec50"]) * (1 - eff) - p["k_msc_effect"] * eff,
        "msc_local_effect": p["k_msc_local_on"] * msc_local / (msc_local + p["msc_ec50"]) * (1 - leff)
        - p["k_msc_local_effect"] * leff,
        # induced Treg: produced while the effect lasts, killed like other T cells, and lost
        # (FOXP3 instability) faster than thymic Treg; treg carries the same cells
        "msc_treg": p["msc_treg_prod"] * eff - (p["k_msc_treg_loss"] + t_cell_kill(p, cy, atg, eatg)) * itreg,
        # pharmacodynamics on the core (added to the core's rates by compose)
        "treg": p["msc_treg_prod"] * eff - p["k_msc_treg_loss"] * itreg,
        "infl": -p["k_infl"] * p["msc_infl_damp"] * eff * infl,
        "drev": -p["k_repair"] * p["msc_repair_gain"] * eff * drev,
    }
    observables = {"msc_cells": msc_sys + msc_local + msc_cns}
    return Module("msc", list(MSC_STATES), list(MSC_PARAMETERS), rates, observables)
