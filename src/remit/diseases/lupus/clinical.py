"""Systemic lupus erythematosus: SLEDAI-2K, proteinuria, serum albumin, anti-dsDNA, C3, responses, renal flares.

Scores are observed from the model's states at each quarterly visit (see
:mod:`remit.diseases.lupus.model` for what the states mean), with each patient's own
counter-based random streams:

- SLEDAI-2K (0-105): its descriptors, each present or absent at a visit. Non-renal
  clinical items (neuropsychiatric, vasculitis, arthritis, myositis, rash, alopecia,
  mucosal ulcers, pleurisy, pericarditis, fever, thrombocytopenia, leukopenia) are present
  with a probability that rises with non-renal organ activity ``sys``; urinary sediment
  items (casts, haematuria, pyuria) with active nephritis ``drev``; the proteinuria item
  when measured proteinuria exceeds 0.5 g/day; the serological items when C3 is below its
  lower limit and anti-dsDNA above its cut-off. A patient's items are correlated over
  visits (a persistent latent propensity per item), as manifestations persist in patients.
- 24-h proteinuria (g/day) = normal excretion + active nephritis + chronic damage, with
  collection-to-collection variability; serum albumin (g/L) falls, saturating, with the true
  proteinuria (hypoalbuminaemia of nephrotic-range loss).
- anti-dsDNA (IU/mL) proportional to the autoantibody state (long-lived plasma cells keep it
  up after B-cell depletion); C3 (g/L) consumed in proportion to it.
- renal flares: Poisson counts from new renal injury (``cum_attack``).

Response definitions (sle-wang-2014-ucmsc-multicentre reports major and partial clinical
response "during 12 months of follow-up" without a definition in the evidence record, so
operational SLEDAI-based definitions are used):

- major clinical response: SLEDAI-2K <= 4 with no renal, neuropsychiatric or vasculitis
  descriptor (the disease-activity part of LLDAS, Franklyn et al. 2016 Ann Rheum Dis 75:1615)
  at any post-baseline visit up to year k (best response, as Wang et al. report it);
- partial clinical response: SLEDAI-2K at least 4 below baseline (the SLEDAI part of SRI-4,
  Furie et al. 2009 Arthritis Rheum 61:1143) at a visit up to year k, without a major response;
- remission at year k: clinical SLEDAI-2K (serology excluded) = 0 at the year-k visit
  (DORIS 2021, van Vollenhoven et al. 2021 Lupus Sci Med 8:e000538; glucocorticoid criterion
  not modelled);
- relapse after response: SLEDAI-2K at least 4 above its lowest value since the first
  response (SELENA-SLEDAI flare index, Petri et al. 2005 NEJM 353:2550) and back to at least its
  baseline value (response lost), or a renal flare after the first response;
- disease-free survival: alive, responded by 12 months and not relapsed (events: death,
  relapse, or no response by the 12-month visit).
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Mapping

import numpy as np
from pydantic import Field
from scipy import special

from remit.calibration.parameters import FitParameter
from remit.diseases.lupus.patient import LupusPatient
from remit.diseases.base import (DISEASE_COUNTERS, YEAR, BaselineVariable, Disease, History, first_passage,
                                 Observation, Proportion, Rate, Score, Survival, TrialContext, VisitOutcomes)
from remit.diseases.lupus import model as sle
from remit.schedule import VisitGrid
from remit.random import poisson, uniforms
from remit.schema.types import Bounds, Distribution, Items, PopulationBase, Range, Text
from remit.therapies.drugs import Drug

# counter blocks (HISTORY stream for baseline, TRIAL stream during the trial)
# renal response (EULAR/ERA-EDTA 2019 lupus nephritis recommendations, Fanouriakis et al. 2020 Ann Rheum Dis
# 79:713): complete below 0.5 g/day, partial a fall of >= 50% to subnephrotic levels; assessable where
# baseline proteinuria shows active nephritis
CRR_PROTEINURIA = 0.5  # g/day
NEPHROTIC_PROTEINURIA = 3.5  # g/day
NEPHRITIS_PROTEINURIA = 0.5  # g/day at baseline

C_PERSIST = DISEASE_COUNTERS  # + item: persistent item propensities (HISTORY)
C_ITEMS = DISEASE_COUNTERS + 1_000_000  # + 64 * visit + item
C_PROT = DISEASE_COUNTERS + 2_000_000  # + visit
C_DSDNA = DISEASE_COUNTERS + 3_000_000  # + visit
C_C3 = DISEASE_COUNTERS + 4_000_000  # + visit
C_FLARE = DISEASE_COUNTERS + 5_000_000  # + output interval
C_DEATH = DISEASE_COUNTERS + 6_000_000
C_ALB = DISEASE_COUNTERS + 7_000_000  # + visit

ITEM_PERSISTENCE = 0.97  # modelling assumption: share of an item's latent variance that is the patient's own
DSDNA_ASSAY_CV = 0.15  # modelling assumption: anti-dsDNA assay variability (log scale)
C3_ASSAY_CV = 0.07  # modelling assumption: C3 assay variability (log scale)
PROTEINURIA_ITEM = 0.5  # g/day, SLEDAI-2K proteinuria descriptor (Gladman et al. 2002 J Rheumatol 29:288)

# SLEDAI-2K descriptors (Gladman, Ibanez, Urowitz 2002 J Rheumatol 29:288): weight and the
# probability at saturating organ activity (modelling assumption, ordered as manifestations
# are common in SLE cohorts: Cervera et al. 1993 Medicine 72:113). The 8-point CNS
# descriptors (seizure, psychosis, organic brain syndrome, visual disturbance, cranial nerve
# disorder, lupus headache, CVA) are lumped.
NONRENAL_ITEMS = (
    ("neuropsychiatric", 8, 0.04),
    ("vasculitis", 8, 0.07),
    ("arthritis", 4, 0.45),
    ("myositis", 4, 0.04),
    ("rash", 2, 0.50),
    ("alopecia", 2, 0.35),
    ("mucosal_ulcers", 2, 0.30),
    ("pleurisy", 2, 0.12),
    ("pericarditis", 2, 0.07),
    ("fever", 1, 0.20),
    ("thrombocytopenia", 1, 0.15),
    ("leukopenia", 1, 0.25),
)
SEDIMENT_ITEMS = (("urinary_casts", 4, 0.5), ("hematuria", 4, 0.8), ("pyuria", 4, 0.5))
MAJOR_ORGAN = ("neuropsychiatric", "vasculitis")
N_ITEMS = len(NONRENAL_ITEMS) + len(SEDIMENT_ITEMS)

# --------------------------------------------------------------------------
# population schema
# --------------------------------------------------------------------------


class SledaiDistribution(Distribution):
    """Baseline SLEDAI-2K in points, 0..105.  Defaults: mean 12, sd 5, min 0, max 105."""

    LIMITS: ClassVar[tuple[float, float]] = (0.0, 105.0)
    DEFAULTS: ClassVar[Mapping[str, float]] = {"mean": 12.0, "sd": 5.0, "min": 0.0, "max": 105.0}
    UNIT: ClassVar[str] = "SLEDAI-2K points"

    mean: Annotated[float, Range(0, 105)] | None = None
    sd: Annotated[float, Range(0, 105, lo_open=True)] | None = None
    min: Annotated[float, Range(0, 105)] | None = None
    max: Annotated[float, Range(0, 105)] | None = None


_Prot = Annotated[float, Range(0, 30)]


class ProteinuriaRange(Bounds):
    """Inclusion range of baseline 24-h proteinuria in g/day, 0..30."""

    UNIT: ClassVar[str] = "g/day"

    min: _Prot = 0.0
    max: _Prot = 30.0


_DrugName = Annotated[str, Text(1, 60)]


class LupusPopulation(PopulationBase):
    """Systemic lupus erythematosus: baseline SLEDAI-2K target, nephritis, proteinuria inclusion, prior therapy.

    ``nephritis_fraction`` is the fraction of candidates with lupus nephritis (0..1; more
    active patients are more often eligible, so the enrolled fraction may be higher);
    ``prior_therapy`` lists the lupus drugs patients were on before enrolment.
    """

    female_fraction: Annotated[float, Range(0, 1)] = 0.9
    sledai: SledaiDistribution = Field(default_factory=SledaiDistribution)
    nephritis_fraction: Annotated[float, Range(0, 1)] = 0.6
    proteinuria_g_per_day: ProteinuriaRange = Field(default_factory=ProteinuriaRange)
    prior_therapy: Annotated[tuple[_DrugName, ...], Items(0, 4, "drugs", distinct=True)] = ("prednisone",)



# --------------------------------------------------------------------------
# conventional drugs: effect (fraction of disease activity removed) only while given
# --------------------------------------------------------------------------

_CY_MG_PER_KG_PER_G_M2 = 1000.0 * 1.8 / 70.0  # 1 g/m2 in mg/kg for a 1.8 m2, 70 kg adult
MONTH = YEAR / 12.0

LUPUS_DRUGS: dict[str, Drug] = {d.name: d for d in [
    Drug("prednisone", 0.5, 7.0,
         "modelling assumption for moderate-dose oral glucocorticoids, the backbone of every induction regimen "
         "(ALMS: prednisone up to 60 mg/day tapered in both arms, Appel et al. 2009 J Am Soc Nephrol 20:1103)"),
    Drug("hydroxychloroquine", 0.3, 45.0,
         "withdrawal raised the relative risk of flare 2.5-fold (Canadian Hydroxychloroquine Study Group 1991 "
         "NEJM 324:150); slow onset over weeks"),
    Drug("mycophenolate", 0.6, 30.0,
         "mycophenolate mofetil 2-3 g/day: ALMS induction response 56% at 24 weeks, not different from IV "
         "cyclophosphamide 53% (Appel et al. 2009 J Am Soc Nephrol 20:1103); modest fall of anti-dsDNA modelled "
         "as slow B-cell depletion (assumption)",
         b_depletion_per_day=0.01),
    Drug("azathioprine", 0.5, 60.0,
         "maintenance: renal flares 25% on azathioprine vs 19% on mycophenolate over about 4 years (MAINTAIN, "
         "Houssiau et al. 2010 Ann Rheum Dis 69:2083)"),
    # NIH regimen: 0.75 g/m2 (0.5-1) monthly x 6, then quarterly to 2.5 years; stopped at 2.5 years (cumulative
    # gonadal and bladder toxicity). Pulses act on B and T cells through the core's cyclophosphamide state.
    Drug("cyclophosphamide_iv", 0.55, 30.0,
         "NIH monthly IV cyclophosphamide 0.5-1 g/m2 x 6 then quarterly (Gourley et al. 1996 Ann Intern Med 125:549); "
         "ALMS IV cyclophosphamide arm response 53% at 24 weeks (Appel et al. 2009 J Am Soc Nephrol 20:1103)",
         pulse_state="cy", pulse_amount=0.75 * _CY_MG_PER_KG_PER_G_M2,
         pulse_days=tuple([MONTH * k for k in range(6)] + [MONTH * (5 + 3 * k) for k in range(1, 9)]),
         max_years=2.5, pulse_agent="cyclophosphamide"),
    # Euro-Lupus low dose: 500 mg every 2 weeks x 6 (then azathioprine maintenance, a separate drug here).
    Drug("cyclophosphamide_low_dose", 0.5, 30.0,
         "Euro-Lupus low-dose IV cyclophosphamide 500 mg every 2 weeks x 6: as effective as the high-dose regimen "
         "(treatment failure 16% vs 20%; Houssiau et al. 2002 Arthritis Rheum 46:2121)",
         pulse_state="cy", pulse_amount=500.0 / 70.0, pulse_days=tuple(14.0 * k for k in range(6)),
         pulse_agent="cyclophosphamide"),
    Drug("rituximab", 0.2, 120.0,
         "added to mycophenolate and steroids, rituximab did not improve renal response (LUNAR, Rovin et al. 2012 "
         "Arthritis Rheum 64:1215) nor non-renal response (EXPLORER, Merrill et al. 2010 Arthritis Rheum 62:222); "
         "B cells deplete within weeks",
         b_depletion_per_day=0.3),
    Drug("belimumab", 0.25, 60.0,
         "SRI response 58% vs 44% on placebo at week 52 (BLISS-52, Navarra et al. 2011 Lancet 377:721); anti-dsDNA "
         "falls slowly (slow B-cell depletion, assumption)",
         b_depletion_per_day=0.01),
]}

# --------------------------------------------------------------------------
# observation model
# --------------------------------------------------------------------------


def _col(p: Mapping[str, np.ndarray], name: str, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(p[name], dtype=float), (n,))[:, None]


def persistent_propensities(keys: np.ndarray) -> np.ndarray:
    """(n, N_ITEMS) standard normal latent propensity of each SLEDAI item (drawn once per patient)."""
    return special.ndtri(uniforms(keys, C_PERSIST, N_ITEMS))


def true_proteinuria(drev, dirr, p) -> np.ndarray:
    """24-h proteinuria in g/day (n, V) before collection variability: normal excretion + active nephritis +
    chronic damage."""
    return _col(p, "proteinuria_normal", drev.shape[0]) + np.maximum(drev, 0.0) + np.maximum(dirr, 0.0)


def proteinuria(drev, dirr, p, keys, visit_ids) -> np.ndarray:
    """24-h proteinuria in g/day (n, V) with collection variability."""
    n = drev.shape[0]
    z = special.ndtri(uniforms(keys, C_PROT + visit_ids.astype(np.uint64)))
    cv = _col(p, "proteinuria_cv", n)
    return true_proteinuria(drev, dirr, p) * np.exp(cv * z - 0.5 * cv**2)


def serum_albumin(drev, dirr, p, keys, visit_ids) -> np.ndarray:
    """Serum albumin in g/L (n, V): the patient's normal level, lowered by urinary protein loss (the true 24-h
    proteinuria, saturating), with visit-to-visit variability."""
    n = drev.shape[0]
    z = special.ndtri(uniforms(keys, C_ALB + visit_ids.astype(np.uint64)))
    prot = true_proteinuria(drev, dirr, p)
    loss = _col(p, "albumin_loss_max", n) * prot / (prot + _col(p, "albumin_prot_half", n))
    return np.maximum(_col(p, "albumin_normal", n) - loss + _col(p, "albumin_test_sd", n) * z, 5.0)


def anti_dsdna(autoab, p, keys, visit_ids) -> np.ndarray:
    n = autoab.shape[0]
    z = special.ndtri(uniforms(keys, C_DSDNA + visit_ids.astype(np.uint64)))
    return _col(p, "dsdna_scale", n) * np.maximum(autoab, 0.0) * np.exp(DSDNA_ASSAY_CV * z)


def complement_c3(autoab, p, keys, visit_ids) -> np.ndarray:
    n = autoab.shape[0]
    z = special.ndtri(uniforms(keys, C_C3 + visit_ids.astype(np.uint64)))
    c3 = _col(p, "c3_normal", n) / (1.0 + _col(p, "c3_consumption", n) * np.maximum(autoab, 0.0))
    return c3 * np.exp(C3_ASSAY_CV * z)


def sledai(sys_, drev, prot, dsdna, c3, p, zp, keys, visit_ids) -> dict[str, np.ndarray]:
    """SLEDAI-2K at visits (n, V): total, clinical (no serology), renal points and major-organ flag."""
    n, v = sys_.shape
    ids = visit_ids.astype(np.uint64)
    counters = (C_ITEMS + 64 * ids[:, None] + np.arange(N_ITEMS, dtype=np.uint64)[None, :]).ravel()
    zv = special.ndtri(uniforms(keys, counters)).reshape(n, v, N_ITEMS)
    z = math.sqrt(ITEM_PERSISTENCE) * zp[:, None, :] + math.sqrt(1 - ITEM_PERSISTENCE) * zv
    u = special.ndtr(z)  # uniform marginally, correlated within a patient
    s = np.maximum(sys_, 0.0)
    half = _col(p, "sys_half", n)
    g = s**2 / (half**2 + s**2) * _col(p, "sledai_gain", n)
    d = np.maximum(drev, 0.0)
    h = d / (d + _col(p, "renal_half", n))
    clinical = np.zeros((n, v))
    major = np.zeros((n, v), dtype=bool)
    renal = np.zeros((n, v))
    for j, (name, w, q) in enumerate(NONRENAL_ITEMS):
        present = u[:, :, j] < np.minimum(1.0, q * g)
        clinical += w * present
        if name in MAJOR_ORGAN:
            major |= present
    for j, (_, w, q) in enumerate(SEDIMENT_ITEMS):
        present = u[:, :, len(NONRENAL_ITEMS) + j] < q * h
        renal += w * present
    renal += 4.0 * (prot > PROTEINURIA_ITEM)
    clinical += renal
    serology = 2.0 * (c3 < _col(p, "c3_lln", n)) + 2.0 * (dsdna > _col(p, "dsdna_cutoff", n))
    nan = np.isnan(sys_)
    out = {"sledai": clinical + serology, "clinical": clinical, "renal": renal, "major_organ": major.astype(float)}
    return {k: np.where(nan, np.nan, x) for k, x in out.items()}


def observe_visits(sys_, drev, dirr, autoab, p, zp, keys, visit_ids) -> dict[str, np.ndarray]:
    """Every score at the given visits (arrays (n, V))."""
    prot = proteinuria(drev, dirr, p, keys, visit_ids)
    dsdna = anti_dsdna(autoab, p, keys, visit_ids)
    c3 = complement_c3(autoab, p, keys, visit_ids)
    return {**sledai(sys_, drev, prot, dsdna, c3, p, zp, keys, visit_ids), "proteinuria": prot, "anti_dsdna": dsdna, "c3": c3,
            "albumin": serum_albumin(drev, dirr, p, keys, visit_ids)}


def activity(sys_, drev) -> np.ndarray:
    """Relative overall disease activity (about 1 in untreated active lupus nephritis)."""
    return 0.5 * np.maximum(sys_, 0.0) / 1.8 + 0.5 * np.maximum(drev, 0.0) / 3.0


def draw_renal_flares(t, cum_attack, p, keys) -> np.ndarray:
    """(n, T-1) renal flares in each output interval from new renal injury."""
    new = np.maximum(np.diff(cum_attack, axis=1), 0.0)
    ids = np.arange(new.shape[1], dtype=np.uint64)
    return poisson(uniforms(keys, C_FLARE + ids), new * _col(p, "renal_flare_per_injury", new.shape[0]))


def responses(sl: np.ndarray, major_organ: np.ndarray, renal: np.ndarray, sl0: np.ndarray):
    """Per visit (n, V): major response, partial response (either counts as a response)."""
    major = (sl <= 4) & (renal == 0) & (major_organ == 0)
    partial = (sl0[:, None] - sl >= 4) & ~major
    return major, partial


class Lupus(Disease):
    name = "lupus"
    label = "Systemic lupus erythematosus"
    organ = "kidney and multiple organs"
    population_model = LupusPopulation
    patient_model = LupusPatient
    evidence_prefix = "sle"
    units = {"sledai": "SLEDAI-2K points", "proteinuria_g_per_day": "g/day"}
    drugs = LUPUS_DRUGS
    endpoints = (
        Survival("disease_free", "Disease-free survival", "time_to_disease_activity_years", "disease_activity_event",
                 "alive, responded (major or partial) by the 12-month visit and not relapsed since; events: death, "
                 "relapse after response, or no response by 12 months (counted at 12 months); cf. Burt et al. 2006 "
                 "JAMA 295:527"),
        Rate("renal_flare", "Annualised renal flare rate", "n_renal_flares",
             "renal flares (new episodes of active nephritis) per patient-year"),
        Score("sledai", "SLEDAI-2K", "points", True, "SLE Disease Activity Index 2000, 0-105 (Gladman et al. 2002)"),
        Score("proteinuria", "24-h proteinuria", "g/day", True, "urinary protein excretion, with collection variability"),
        Score("anti_dsdna", "Anti-dsDNA", "IU/mL", True, "anti-double-stranded DNA antibody titre"),
        Score("c3", "Complement C3", "g/L", False, "serum C3 (normal 0.9-1.8 g/L)"),
        Score("albumin", "Serum albumin", "g/L", False,
              "serum albumin (normal 35-50 g/L), lowered by urinary protein loss (nephrotic below 30 g/L)"),
        Proportion("major_response", "Major clinical response",
                   "SLEDAI-2K <= 4 with no renal, neuropsychiatric or vasculitis descriptor at any visit up to this one"),
        Proportion("partial_response", "Partial clinical response",
                   "SLEDAI-2K >= 4 below baseline at a visit up to this one, without a major response"),
        Proportion("remission", "Clinical remission (DORIS)", "clinical SLEDAI-2K (serology excluded) = 0 at the visit"),
        Proportion("relapse", "Relapse after response",
                   "among patients who responded by the visit: SLEDAI-2K >= 4 above its nadir since response and back to "
                   "baseline, or a renal flare, by the visit"),
        Proportion("complete_renal_response", "Complete renal response",
                   f"proteinuria < {CRR_PROTEINURIA:g} g/day at the visit, among patients with proteinuria >= "
                   f"{NEPHRITIS_PROTEINURIA:g} g/day at baseline (Fanouriakis et al. 2020 Ann Rheum Dis 79:713; the "
                   "renal-function condition of the definition is not modelled)"),
        Proportion("partial_renal_response", "Partial renal response",
                   f"proteinuria at least 50% below baseline and < {NEPHROTIC_PROTEINURIA:g} g/day at the visit, without "
                   "a complete renal response, among the same patients (Fanouriakis et al. 2020)"),
    )
    baseline = (
        BaselineVariable("age", "Age", "years", "age"),
        BaselineVariable("sledai_baseline", "SLEDAI-2K at baseline", "points", "sledai"),
        BaselineVariable("disease_duration_years", "Disease duration", "years", "disease_duration_years"),
        BaselineVariable("proteinuria_baseline", "24-h proteinuria at baseline", "g/day"),
        BaselineVariable("anti_dsdna_baseline", "Anti-dsDNA at baseline", "IU/mL"),
        BaselineVariable("c3_baseline", "C3 at baseline", "g/L"),
        BaselineVariable("nephritis", "Lupus nephritis", "fraction"),
    )
    selection = ("sledai_baseline", "sledai")
    primary = "disease_free"
    trial_states = ("sys", "cum_attack", "drev", "dirr", "autoab")  # what observe() reads: SLEDAI, flares, damage, proteinuria, anti-dsDNA
    calibrated = (
        FitParameter("msc_sle_organ", 0.3, 3.0, "log", why="MSC effect on lupus organ inflammation (Wang 2013/2014 response)"),
        FitParameter("k_msc_effect", 0.006, 0.069, "log", why="how fast the MSC paracrine effect wanes (relapse after MSC)"),
        FitParameter("msc_treg_prod", 0.05, 2.0, "log", why="regulatory T cells induced by MSC"),
        FitParameter("k_msc_treg_loss", 0.0039, 0.099, "log", why="how long MSC-induced regulatory T cells last "
                     "(durable responses after MSC in Wang 2013)"),
        FitParameter("sle_death_rate", 0.005, 0.2, "log", why="mortality of active lupus"),
        FitParameter("k_repair", 0.0039, 0.0495, "log", why="how fast active nephritis resolves once renal injury "
                     "stops (proteinuria 3 months after CD19 CAR-T in Mackensen 2022; after MSC)"),
    )
    references = (
        "Gladman DD, Ibanez D, Urowitz MB 2002 J Rheumatol 29:288 (SLEDAI-2K)",
        "Wang D et al. 2014 Arthritis Res Ther 16:R79 (UC-MSC in refractory SLE)",
        "Burt RK et al. 2006 JAMA 295:527 (aHSCT in SLE)",
        "Appel GB et al. 2009 J Am Soc Nephrol 20:1103 (ALMS)",
    )

    def module(self):
        return sle.module()

    def prior_therapy(self, population):
        return tuple(population.prior_therapy)

    def prepare(self, model, population, cov, P, y0, u):
        ix, si = model.parameter_index, model.state_index
        nephritis = u[:, 0] < population.nephritis_fraction
        # without nephritis the kidney is spared (modelling assumption: 3% of the renal attack, no clinical nephritis)
        P[:, ix("tissue_attack")] *= np.where(nephritis, 1.0, 0.03)
        cov["nephritis"] = nephritis.astype(float)
        y0[:, si("sys")] = y0[:, si("infl")]  # organ activity starts with the inflammation of disease onset

    def observe_history(self, model, spec, t, traj, params, keys):
        si = model.state_index
        zp = persistent_propensities(keys)
        end = traj.y_end[:, None, :]
        obs = observe_visits(end[:, :, si("sys")], end[:, :, si("drev")], end[:, :, si("dirr")], end[:, :, si("autoab")],
                             params, zp, keys, np.array([0]))
        cov = {f"{k}_baseline": v[:, 0] for k, v in obs.items() if k in ("sledai", "proteinuria", "anti_dsdna", "c3")}
        carry = {"item_propensity": zp, "renal_baseline": obs["renal"][:, 0], "clinical_baseline": obs["clinical"][:, 0],
                 "major_organ_baseline": obs["major_organ"][:, 0]}
        return History(cov, carry)

    def eligible(self, cov, population):
        pr = population.proteinuria_g_per_day
        x = cov["proteinuria_baseline"]
        return (x >= pr.min) & (x <= pr.max)

    def selection_edges(self, lo, hi):
        lo_i, hi_i = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
        return np.arange(lo_i - 0.5, hi_i + 1.0, 2.0) if hi_i - lo_i >= 2 else np.array([lo_i - 0.5, hi_i + 0.5])

    def frailty(self, cov):
        """Relative risk of dying of a treatment complication: older age, nephritis and high activity raise it
        (aHSCT in SLE: 12% one-year transplant-related mortality in the EBMT registry, Jayne et al. 2004 Lupus
        13:168, against 2% in Burt et al. 2006 JAMA 295:527; slopes are a modelling assumption)."""
        sl = np.nan_to_num(cov["sledai_baseline"], nan=10.0)
        neph = np.asarray(cov.get("nephritis", np.zeros_like(sl)), dtype=float)
        return np.exp(0.05 * (cov["age"] - 35.0) + 0.03 * (sl - 10.0) + 0.4 * neph)

    def disease_death_days(self, ctx: TrialContext) -> np.ndarray:
        """Death from active lupus: hazard sle_death_rate x activity, integrated along the trajectory."""
        a = activity(ctx.state("sys"), ctx.state("drev"))
        rate = ctx.params["sle_death_rate"][:, None] / YEAR * a
        return first_passage(ctx.t, rate, uniforms(ctx.keys, C_DEATH, 1)[:, 0])

    def _scores(self, ctx: TrialContext, grid: VisitGrid) -> dict[str, np.ndarray]:
        """Every score (n, V) at the visits of ``grid``; baseline: the screening values; NaN after death."""
        obs = observe_visits(*(ctx.at(s, grid) for s in ("sys", "drev", "dirr", "autoab")), ctx.params,
                             ctx.carry["item_propensity"], ctx.keys, grid.ids)
        cov, at = ctx.covariates, grid.days == 0
        base = {"sledai": cov["sledai_baseline"], "proteinuria": cov["proteinuria_baseline"],
                "anti_dsdna": cov["anti_dsdna_baseline"], "c3": cov["c3_baseline"],
                "renal": ctx.carry["renal_baseline"], "clinical": ctx.carry["clinical_baseline"],
                "major_organ": ctx.carry["major_organ_baseline"]}
        for k, v in base.items():
            obs[k][:, at] = np.asarray(v)[:, None]
        alive = ctx.alive_at(grid.days)
        return {k: np.where(alive, v, np.nan) for k, v in obs.items()}

    def observe(self, ctx: TrialContext) -> Observation:
        out = VisitOutcomes()
        p, keys, cov = ctx.params, ctx.keys, ctx.covariates
        n = ctx.n
        v_days = ctx.visit_days
        V = len(v_days)
        obs = self._scores(ctx, ctx.assessments)

        death = np.where(ctx.died, ctx.death_days, np.inf)
        flares = draw_renal_flares(ctx.t, ctx.state("cum_attack"), p, keys)
        t_end = ctx.t[1:]
        counted = t_end[None, :] <= death[:, None]
        flares = np.where(counted, flares, 0)

        sl = obs["sledai"]
        major, partial = responses(sl, obs["major_organ"], obs["renal"], sl[:, 0])
        major[:, 0] = partial[:, 0] = False
        resp = major | partial
        first = np.where(resp.any(axis=1), np.argmax(resp, axis=1), V)  # first responding visit (V: none)
        first_day = np.where(first < V, v_days[np.minimum(first, V - 1)], np.inf)
        # relapse: SLEDAI >= nadir since first response + 4, or a renal flare after the first response
        after = np.arange(V)[None, :] >= first[:, None]
        nadir = np.fmin.accumulate(np.where(after, sl, np.inf), axis=1)
        prev_nadir = np.concatenate([np.full((n, 1), np.inf), nadir[:, :-1]], axis=1)
        lost = sl >= sl[:, :1]  # back to baseline activity (response lost)
        flare_visit = after & (np.arange(V)[None, :] > first[:, None]) & (sl >= prev_nadir + 4) & lost
        rel_day_visit = np.where(flare_visit.any(axis=1), v_days[np.argmax(flare_visit, axis=1)], np.inf)
        renal_after = (flares > 0) & (t_end[None, :] > first_day[:, None])
        rel_day_renal = np.where(renal_after.any(axis=1), t_end[np.argmax(renal_after, axis=1)], np.inf)
        relapse_day = np.minimum(rel_day_visit, rel_day_renal)

        fu_days = ctx.planned_years * YEAR
        no_resp_day = np.where(first_day <= YEAR + 1e-6, np.inf, min(YEAR, fu_days))
        event_day = np.minimum.reduce([death, relapse_day, no_resp_day])
        event = event_day <= fu_days + 1e-6
        rec: dict[str, np.ndarray] = {
            "nephritis": cov["nephritis"], "sledai_baseline": cov["sledai_baseline"],
            "proteinuria_baseline": cov["proteinuria_baseline"], "anti_dsdna_baseline": cov["anti_dsdna_baseline"],
            "c3_baseline": cov["c3_baseline"],
            "n_renal_flares": flares.sum(axis=1).astype(np.int64),
            "disease_activity_event": event,
            "time_to_disease_activity_years": np.where(event, event_day, ctx.follow_up_years * YEAR) / YEAR,
            "first_response_years": first_day / YEAR, "relapse_years": relapse_day / YEAR,
        }
        rep = ctx.report
        obs_r = self._scores(ctx, rep)
        for j, day in enumerate(rep.days):
            for name in ("sledai", "proteinuria", "anti_dsdna", "c3", "albumin"):
                out.at(name, day / YEAR, obs_r[name][:, j])
        major_r, partial_r = responses(obs_r["sledai"], obs_r["major_organ"], obs_r["renal"], obs_r["sledai"][:, 0])
        upto = rep.quarters_up_to(v_days)  # quarterly assessments at or before each visit
        for j, day in enumerate(rep.days):
            if day == 0:
                continue
            alive_k = ctx.alive_at(day)
            ever_major = major[:, : upto[j]].any(axis=1) | major_r[:, j]
            ever_resp = resp[:, : upto[j]].any(axis=1) | major_r[:, j] | partial_r[:, j]
            y = day / YEAR
            out.at("major_response", y, np.where(alive_k, ever_major, np.nan))
            out.at("partial_response", y, np.where(alive_k, ever_resp & ~ever_major, np.nan))
            out.at("remission", y, np.where(alive_k, obs_r["clinical"][:, j] == 0, np.nan))
            out.at("relapse", y, np.where(alive_k & ever_resp, relapse_day <= day + 1e-6, np.nan))
            prot, prot0 = obs_r["proteinuria"][:, j], cov["proteinuria_baseline"]
            renal = alive_k & (prot0 >= NEPHRITIS_PROTEINURIA)
            complete = prot < CRR_PROTEINURIA
            partial = ~complete & (prot <= 0.5 * prot0) & (prot < NEPHROTIC_PROTEINURIA)
            out.at("complete_renal_response", y, np.where(renal, complete, np.nan))
            out.at("partial_renal_response", y, np.where(renal, partial, np.nan))
        visits = {k: obs[k] for k in ("sledai", "proteinuria", "anti_dsdna", "c3", "albumin")}
        return Observation(rec, visits, out)


DISEASE = Lupus()
