"""Multiple sclerosis on the shared core: CNS lesions, relapses, EDSS.

The core's target organ is the CNS: ``drev`` is the active (enhancing) lesion load,
``cum_attack`` counts new T2 lesions, ``dirr`` is irreversible disability in EDSS
points. This module adds

- the neurodegenerative ("smouldering") part of ``dirr`` that immune therapy barely touches;
- ``drec``, disability that can still recover: each new lesion leaves demyelination and
  conduction block (``rec_per_lesion`` EDSS points) that remyelination repairs over months
  (``k_remyelination``). Ongoing inflammation keeps it topped up; when inflammation stops
  (after aHSCT) it recovers, and mean EDSS improves over the first one to two years, as in
  MIST (Burt et al. 2019 JAMA 321:165: 3.38 to 2.36 at 1 year after aHSCT, 3.31 to 3.98 on
  DMT);
- the observation parameters that turn states into clinical events: relapses as a fraction
  of new lesions, relapse deficits with partial recovery, EDSS on its 0-9.5 scale.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal, get_args

import numpy as np
import sympy as sp

from remit.model.core import core_parameter
from remit.model.spec import Module, Parameter, State

P = Parameter

Course = Literal["relapsing_remitting", "secondary_progressive", "primary_progressive"]
COURSES: tuple[str, ...] = get_args(Course)

STATES = [
    State("drec", "EDSS points", "recoverable disability: demyelination and conduction block left by recent lesions, "
          "repaired by remyelination once inflammation subsides"),
]

PARAMETERS = [
    P("rec_per_lesion", 0.15, "EDSS points/lesion", 0.0, 0.6,
      "set by hand against MIST's aHSCT arm (mean EDSS 3.38 to 2.36 in the first year, Burt et al. 2019 JAMA 321:165; "
      "a mean without an interval, so not a calibration target): with k_remyelination and 6-10 new lesions a year in "
      "active RRMS it keeps about 1 EDSS point that can recover; recovery after relapses continues beyond the acute "
      "phase (Lublin et al. 2003 Neurology 61:1528). Not fitted: MIST's targets drive it to its floor (see "
      "MultipleSclerosis.calibrated)",
      "recoverable EDSS left by each new lesion"),
    P("k_remyelination", 0.6931471805599453 / 180.0, "1/day", 0.6931471805599453 / 540.0, 0.6931471805599453 / 60.0,
      "modelling assumption: remyelination and recovery of conduction take months (half-life 6 months): mean EDSS "
      "improves over the first one to two years after aHSCT, most of it within the first (MIST 1-year change -1.02, "
      "Burt et al. 2019 JAMA 321:165)",
      "repair rate of recoverable disability"),
    P("k_neurodeg", 0.03 / 365.0, "EDSS points/day", 0.0, 1.0 / 365.0,
      "neurodegenerative worsening independent of relapses: small in early RRMS, about 0.2-0.4 EDSS/year in progressive MS "
      "(ORATORIO placebo arm, Montalban et al. 2017 NEJM 376:209; Confavreux & Vukusic 2006 Brain 129:606). "
      "Set per patient from course and age in remit.population",
      "neurodegenerative EDSS drift", "lognormal", 0.5),
    # Observation parameters (used by remit.observe, not by the ODE).
    P("relapse_per_lesion", 0.10, "relapses/lesion", 0.03, 0.3,
      "fewer than 20% of new enhancing lesions are clinical relapses (Velez de Mendizabal 2011 background; "
      "Barkhof 1992); with 6-10 new lesions a year this gives ARR about 0.7-1.2 untreated",
      "probability that a new lesion causes a clinical relapse", "logitnormal", 0.3),
    P("relapse_deficit", 1.0, "EDSS points", 0.3, 2.5,
      "mean EDSS rise at a relapse about 1 point (Lublin et al. 2003 Neurology 61:1528)",
      "mean acute EDSS deficit of a relapse"),
    P("relapse_residual", 0.3, "1", 0.05, 0.7,
      "42% of relapses leave a residual deficit >= 0.5 EDSS, 28% >= 1 point (Lublin et al. 2003)",
      "mean fraction of a relapse deficit that persists", "logitnormal", 0.4),
    P("relapse_recovery_days", 60.0, "day", 20.0, 180.0,
      "recovery from relapse mostly within 2-3 months (Lublin et al. 2003; Hirst et al. 2008 J Neurol 255:280)",
      "time constant of recovery from the acute deficit"),
    P("edss_per_active_lesion", 0.08, "EDSS points/lesion", 0.0, 0.3,
      "modelling assumption: active inflammation causes reversible, subclinical disability",
      "reversible EDSS per unit active lesion load"),
    P("mri_detection", 1.0, "1", 0.5, 1.0,
      "modelling assumption: annual MRI detects new/enlarging T2 lesions with their formation rate",
      "fraction of new lesions seen on annual MRI"),
    P("edss_rater_error", 0.15, "1", 0.0, 0.4,
      "inter-rater EDSS disagreement of >= 0.5 point is common (Noseworthy et al. 1990 Neurology 40:971)",
      "probability that a visit's EDSS is off by one step"),
]

NEURODEG_BY_COURSE = {  # EDSS points/year, median at age 40 (sources in PARAMETERS)
    "relapsing_remitting": 0.03,
    "secondary_progressive": 0.25,
    "primary_progressive": 0.30,
}
ACTIVITY_BY_COURSE = {  # multiplier on r_act: progressive MS has less new inflammatory activity
    "relapsing_remitting": 1.0,
    "secondary_progressive": 0.8,
    "primary_progressive": 0.7,
}

EDSS_STEPS = np.array([0.0] + [1.0 + 0.5 * k for k in range(18)])  # 0, 1.0, 1.5, ..., 9.5

# Units of the core's target-organ states in MS (drev and cum_attack keep the core's lesions);
# the core's lesion-driven damage, in EDSS points.
STATE_UNITS = {"dirr": "EDSS points"}
OVERRIDES = [replace(core_parameter("irr_per_lesion"), unit="EDSS points/lesion")]


def module() -> Module:
    """MS additions to the core: neurodegeneration saturating at EDSS 9.5, recoverable disability."""
    dirr = sp.Symbol("dirr")
    k = sp.Symbol("k_neurodeg")
    drec, attack = sp.symbols("drec attack_rate")
    rates = {"dirr": k * (1 - dirr / sp.Rational(19, 2)),
             "drec": sp.Symbol("rec_per_lesion") * attack - sp.Symbol("k_remyelination") * drec}
    return Module("multiple_sclerosis", states=list(STATES), parameters=list(PARAMETERS), rates=rates,
                  overrides=OVERRIDES, state_units=STATE_UNITS)


def to_edss_scale(x: np.ndarray) -> np.ndarray:
    """Round a continuous disability (EDSS points) to the nearest valid EDSS step."""
    x = np.clip(np.nan_to_num(x, nan=np.nan), 0.0, 9.5)
    idx = np.abs(x[..., None] - EDSS_STEPS).argmin(axis=-1)
    out = EDSS_STEPS[idx]
    return np.where(np.isnan(x), np.nan, out)


def progression_threshold(edss_baseline: np.ndarray) -> np.ndarray:
    """EDSS increase that counts as progression: 1.0 from baseline <= 5.5, else 0.5 (Kappos 2010 convention)."""
    return np.where(edss_baseline <= 5.5, 1.0, 0.5)
