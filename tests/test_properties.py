"""Property-based tests of the scenario language (issue 7, item 1).

Generated VALID scenarios always run and give finite, in-range results; generated INVALID
ones always give the one-line ScenarioError naming the file (and the field), and through
the command line exit code 2 with no traceback, never a hang.

Fixed example budget (``derandomize=True``: the same cases on every run, so CI is stable).
Generated cases per run:

- ``test_valid_scenarios_run``: 2 per disease x 6 diseases = 12 trial simulations. Each
  scenario has up to 12 arms covering every therapy at once: aHSCT with each of the 4 regimens
  (the 3 graft sources all used), mobilisation only, MSC with each of the 3 sources and 3
  routes (random schedule and background drugs), CD19 CAR-T (random dose, lymphodepletion and
  infusion day), conventional arms using the disease's drugs, and placebo with the drugs no
  conventional arm had room for; 3 patients per arm, 1 year of follow-up.
- ``test_invalid_field_values_are_rejected``: 250 (wrong types, out-of-range, negative,
  absurd, NaN/inf numbers in every kind of numeric field; unknown regimens, sources, routes,
  drugs, therapies, diseases).
- ``test_invalid_structure_is_rejected``: 150 (empty, missing or too many arms, duplicate
  arm names, unknown or missing keys, huge strings).
- ``test_invalid_bytes_are_rejected``: 120 (non-UTF-8 bytes, deep-nesting TOML bombs,
  malformed TOML, arbitrary bytes).
- ``test_invalid_scenarios_exit_2_on_the_command_line``: 60 (a mix of the above, through
  ``remit run``), plus 3 fixed cases through a real ``remit`` process with a timeout and
  1 fixed TOML datetime case and 2 fixed dotted-key bombs (regression test of a bug these bombs found).

Total: 12 simulated + 586 rejected scenarios per run.
"""

from __future__ import annotations

import datetime
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import remit.population
import remit.trial
from remit.cli import app
from remit.diseases import get_disease
from remit.errors import ScenarioError
from remit.scenario import DISEASES, load_scenario, parse_scenario
from remit.therapies import THERAPIES
from remit.therapies.ahsct.schema import GRAFT_SOURCES, REGIMENS
from remit.therapies.msc.schema import MSC_ROUTES, MSC_SOURCES

N_VALID_PER_DISEASE = 2
PATIENTS_PER_ARM = 3
LOAD_SECONDS = 10.0  # a rejected scenario must be answered well within this (no hang)

VALID = settings(max_examples=N_VALID_PER_DISEASE, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def FAST(n: int) -> settings:
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


# ================================================================== valid scenarios

def _between(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def _mobilization(draw) -> dict:
    cy = draw(st.sampled_from([0.0, 1.0, 2.0, 4.0]) | _between(0, 4.5))
    mob = {"cyclophosphamide_g_per_m2": cy, "g_csf": True if cy == 0 else draw(st.booleans())}
    if cy == 0 and draw(st.booleans()):  # dosed by weight instead (e.g. 2 x 50 mg/kg)
        mob["cyclophosphamide_mg_per_kg"] = draw(st.sampled_from([100.0]) | _between(0, 200))
    return mob


@st.composite
def _components(draw, regimen: str) -> dict:
    """Optional components any regimen may add: horse ATG, rituximab, fludarabine, methylprednisolone,
    and for TBI shielded lung and kidney doses (at most the whole-body dose)."""
    added = {}
    for name, hi in (("equine_atg_mg_per_kg", 200), ("rituximab_mg", 2000), ("fludarabine_mg_per_m2", 250),
                     ("methylprednisolone_mg", 10000)):
        if draw(st.booleans()):
            added[name] = draw(_between(0, hi))
    return added


@st.composite
def _rituximab_after_graft(draw) -> dict:
    course = {"mg_per_m2": draw(_between(0, 1000)), "day": draw(_between(0, 100))}
    if draw(st.booleans()):
        course |= {"maintenance_mg": draw(_between(0, 1000)), "maintenance_every_months": draw(_between(1, 12)),
                   "maintenance_months": draw(_between(0, 36))}
    return course


def _conditioning(regimen: str) -> st.SearchStrategy[dict]:
    atg = _between(0, 15)
    cy = _between(0, 260)
    fields = {
        "cy_atg": {"cyclophosphamide_mg_per_kg": cy, "atg_mg_per_kg": atg},
        "beam_atg": {"carmustine_mg_per_m2": _between(0, 600), "etoposide_mg_per_m2": _between(0, 1600),
                     "cytarabine_mg_per_m2": _between(0, 3200), "melphalan_mg_per_m2": _between(0, 200),
                     "atg_mg_per_kg": atg},
        "bu_cy_atg": {"busulfan_mg_per_kg": _between(0, 20), "cyclophosphamide_mg_per_kg": cy, "atg_mg_per_kg": atg},
        "tbi_cy_atg": {"tbi_gy": _between(0, 14), "cyclophosphamide_mg_per_kg": cy, "atg_mg_per_kg": atg},
    }[regimen]
    return st.builds(lambda own, added: own | added, st.fixed_dictionaries({"regimen": st.just(regimen), **fields}),
                     _components(regimen)).flatmap(_shield)


def _shield(cond: dict) -> st.SearchStrategy[dict]:
    if cond["regimen"] != "tbi_cy_atg":
        return st.just(cond)
    organ = st.none() | _between(0, cond["tbi_gy"])
    return st.builds(lambda lung, kidney: cond | {k: v for k, v in (("tbi_lung_gy", lung), ("tbi_kidney_gy", kidney))
                                                  if v is not None}, organ, organ)


@st.composite
def valid_scenario(draw, disease: str) -> dict:
    drugs = sorted(get_disease(disease).drugs)
    arms: list[dict] = []
    sources = draw(st.permutations(GRAFT_SOURCES)) + [draw(st.sampled_from(GRAFT_SOURCES))]
    for regimen, source in zip(REGIMENS, sources):
        arm = {"name": f"aHSCT {regimen}", "therapy": "ahsct", "mobilization": draw(_mobilization()),
               "graft": {"source": source, "cd34_per_kg": draw(_between(1e4, 1e8)), "cd34_selection": draw(st.booleans())},
               "conditioning": draw(_conditioning(regimen))}
        if draw(st.booleans()):
            arm["g_csf_after_graft"] = True
        if draw(st.booleans()):
            arm["graft_day"] = draw(_between(10, 120))
        if draw(st.booleans()):
            arm["rituximab_after_graft"] = draw(_rituximab_after_graft())
        arms.append(arm)
    arms.append({"name": "Mobilisation only", "therapy": "mobilization_only", "mobilization": draw(_mobilization())})
    for source, route in zip(draw(st.permutations(MSC_SOURCES)), draw(st.permutations(MSC_ROUTES))):
        doses = draw(st.integers(1, 6))
        arm = {"name": f"MSC {source} {route}", "therapy": "msc", "source": source, "route": route,
               "dose_cells_per_kg": draw(_between(1e4, 1e9)), "schedule": {"doses": doses}}
        if doses > 1:
            arm["schedule"]["interval_days"] = draw(_between(1, 365))
        background = draw(st.lists(st.sampled_from(drugs), max_size=3, unique=True))
        if background:
            arm["background"] = background
        arms.append(arm)
    arms.append({"name": "CAR-T", "therapy": "car_t", "target": "cd19", "dose_cells_per_kg": draw(_between(1e4, 1e8)),
                 "lymphodepletion": {"fludarabine_mg_per_m2": draw(_between(0, 150)),
                                     "cyclophosphamide_mg_per_m2": draw(_between(0, 3000))},
                 "infusion_day": draw(_between(5, 120))})
    order = draw(st.permutations(drugs))
    n_conv = 12 - len(arms) - 1  # leave room for placebo
    for i in range(min(n_conv, math.ceil(len(order) / 3))):
        arm = {"name": f"Conventional {i + 1}", "therapy": "conventional", "drugs": list(order[3 * i:3 * i + 3])}
        if draw(st.booleans()):
            arm["stop_year"] = draw(_between(0.05, 0.95))
        own = [d for d in arm["drugs"] if get_disease(disease).drugs[d].pulse_agent is not None]
        if own and draw(st.booleans()):  # the arm's own pulse schedule, perhaps with a first dose of its own
            arm["pulses"] = {"drug": draw(st.sampled_from(own)), "mg_per_m2": draw(_between(0, 1500)),
                             "count": draw(st.integers(1, 60)), "every_days": draw(_between(1, 365))}
            if draw(st.booleans()):
                arm["pulses"]["first_mg_per_m2"] = draw(_between(0, 1500))
        arms.append(arm)
    placebo = {"name": "Placebo", "therapy": "placebo"}
    # the drugs no conventional arm has room for (12 arms at most) go into the placebo arm's background
    left = [d for d in drugs if d not in {d for a in arms if a["therapy"] == "conventional" for d in a["drugs"]}]
    assert len(left) <= 3, "the conventional arms and the placebo background must use every drug of the disease"
    background = left + draw(st.lists(st.sampled_from([d for d in drugs if d not in left]), max_size=3 - len(left),
                                      unique=True))
    if background:
        placebo["background"] = background
    arms.append(placebo)
    covered = {d for a in arms if a["therapy"] in ("conventional", "placebo") for d in a.get("drugs", a.get("background", ()))}
    assert covered == set(drugs), "the conventional arms and the placebo background must use every drug of the disease"
    population = {"female_fraction": draw(_between(0, 1)),
                  "age": {"mean": draw(_between(30, 50)), "sd": draw(_between(5, 15)), "min": 18, "max": 65}}
    trial = {"name": f"generated {disease}", "disease": disease, "seed": draw(st.integers(0, 2**63 - 1)),
             "follow_up_years": 1, "patients_per_arm": PATIENTS_PER_ARM}
    if draw(st.booleans()):
        trial["control_arm"] = draw(st.sampled_from([a["name"] for a in arms])).upper()
    if draw(st.booleans()):
        trial["visits"] = draw(valid_visits(trial["follow_up_years"]))
    if draw(st.booleans()):
        population["groups"] = draw(valid_groups())
    if draw(st.booleans()):
        names = [e.name for e in get_disease(disease).endpoints] + ["mortality", "immune_recovery"]
        trial["per_protocol"] = draw(st.booleans() | st.lists(st.sampled_from(names), min_size=1, max_size=4,
                                                              unique=True))
    scenario = {"trial": trial, "population": population, "arms": arms}
    if draw(st.booleans()):
        scenario["composites"] = [draw(valid_composite(disease))]
    return scenario


@st.composite
def valid_groups(draw) -> list[dict]:
    """1 to 3 groups of a mixed cohort with fractions adding up to 1, each setting its own age and/or
    female fraction (the fields every disease has) or nothing."""
    weights = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    groups = []
    for i, w in enumerate(weights):
        g = {"name": f"group_{i}", "fraction": w / sum(weights)}
        if draw(st.booleans()):
            g["age"] = {"mean": draw(_between(30, 50)), "sd": draw(_between(5, 15)), "min": 18, "max": 65}
        if draw(st.booleans()):
            g["female_fraction"] = draw(_between(0, 1))
        groups.append(g)
    return groups


@st.composite
def valid_composite(draw, disease: str) -> dict:
    """A composite of 1 to 4 distinct levels of the disease, scores with or without a margin."""
    from remit.endpoints.composite import level_choices

    choices = level_choices(get_disease(disease))
    names = draw(st.lists(st.sampled_from(sorted(choices)), min_size=1, max_size=4, unique=True))
    hierarchy = [{"endpoint": n, "margin": draw(_between(0, 5))} if choices[n] == "score" and draw(st.booleans()) else n
                 for n in names]
    return {"name": "composite", "hierarchy": hierarchy}


VISIT_UNITS = {"d": 1.0, "w": 7.0, "m": 365.25 / 12, "y": 365.25}


def level_names(disease: str) -> set[str]:
    from remit.endpoints.composite import level_choices

    return set(level_choices(get_disease(disease)))


@st.composite
def valid_visits(draw, follow_up_years: float) -> list[str]:
    """1 to 6 report visits within follow-up, no two on the same day, in any order and unit."""
    out, days = [], set()
    for _ in range(draw(st.integers(1, 6))):
        unit = draw(st.sampled_from(sorted(VISIT_UNITS)))
        top = follow_up_years * 365.25 / VISIT_UNITS[unit]
        k = draw(st.integers(1, max(int(top), 1)) if unit != "y" else st.just(1))
        day = round(k * VISIT_UNITS[unit])
        if k * VISIT_UNITS[unit] <= follow_up_years * 365.25 and day not in days:
            out.append(f"{k}{unit}")
            days.add(day)
    return out or ["6m"]


# Plausible ranges of every clinical score (the scales' own limits, or generous physiological ones).
SCORE_RANGE = {
    "edss": (0, 10), "mrss": (0, 51), "fvc": (0, 200), "dlco": (0, 200), "das28": (0, 10), "sjc": (0, 28), "tjc": (0, 28),
    "crp": (0, 300), "haq": (0, 3),
    "sharp": (0, 448), "sledai": (0, 105), "proteinuria": (0, 50), "anti_dsdna": (0, 1e5), "c3": (0, 5),
    "cdai": (-100, 1100), "ses_cd": (0, 56), "c_peptide": (0, 10), "insulin_dose": (0, 5), "hba1c": (3, 20),
    "gad65": (0, 1e4), "insulin_free_longest": (0, 30),
    "das28_esr": (0, 10), "esr": (1, 140), "rf": (0, 1e5), "albumin": (5, 60), "ses_cd_ulcer": (0, 30),
}
UNIT_INTERVAL = ("_free", "treatment_related_mortality", "all_cause_mortality", "_logrank_p")


def _check_result(result, spec) -> None:
    disease = get_disease(spec.trial.disease)
    p, v, ep = result.patients, result.visits, result.endpoints
    n_arm = spec.trial.patients_per_arm
    assert len(p) == n_arm * len(spec.arms)
    assert (p["solver_status"] == 0).all(), p.loc[p["solver_status"] != 0, "solver_message"].tolist()
    fu = p["follow_up_years"].to_numpy(float)
    assert np.all((fu > 0) & (fu <= spec.trial.follow_up_years + 1e-9))
    dead = p["died"].to_numpy(bool)
    assert np.all(np.isfinite(p.loc[dead, "death_time_years"]))
    # every score at baseline and every report visit: finite while alive, within its scale
    visits = [0.0, *spec.visit_years]
    for score in disease.scores:
        lo, hi = SCORE_RANGE[score.name]
        wide = result.outcome(score.name)
        assert np.allclose(sorted(wide.columns), visits), (score.name, list(wide.columns), visits)
        for col in wide.columns:
            alive = ~dead | (p["death_time_years"].to_numpy(float) > col)
            x = wide[col].to_numpy(float)[alive]
            assert np.all(np.isfinite(x)), (col, x)
            assert np.all((x >= lo) & (x <= hi)), (col, x.min(), x.max())
        if score.name in v:
            x = v[score.name].to_numpy(float)
            assert not np.isinf(x).any()
            x = x[np.isfinite(x)]
            assert np.all((x >= lo) & (x <= hi)), (score.name, x.min(), x.max())
    for e in disease.endpoints:  # a binary outcome at every report visit: 1, 0 or not assessed
        if e.kind == "proportion":
            wide = result.outcome(e.name)
            assert np.allclose(sorted(wide.columns), visits[1:]), (e.name, list(wide.columns))
            x = wide.to_numpy(float)
            assert np.all(np.isnan(x) | (x == 0) | (x == 1)), e.name
    assert np.all(p["n_severe_infections"] >= 0)
    eng = p["engraftment_day"].to_numpy(float)
    assert np.all(np.isnan(eng) | ((eng >= 0) & (eng <= 120)))
    for col in [c for c in p if c.startswith("cd4_")]:
        x = p[col].to_numpy(float)
        assert np.all(np.isnan(x) | ((x >= 0) & np.isfinite(x))), col
    # the endpoint table: no infinities, estimates in range, CIs around them
    num = ep[["timepoint_years", "estimate", "ci_low", "ci_high", "n"]].to_numpy(float)
    assert not np.isinf(num).any()
    assert ep["n"].notna().all() and (ep["n"] >= 0).all()
    between = ep["arm"].str.contains(" vs ")
    assert (ep.loc[~between, "n"] <= n_arm).all() and (ep.loc[between, "n"] <= 2 * n_arm).all()
    est = ep["estimate"].to_numpy(float)
    unit = ep["endpoint"].apply(lambda name: name.endswith(UNIT_INTERVAL) or name in UNIT_INTERVAL
                                or name in {e.name for e in disease.endpoints if e.kind == "proportion"})
    ok = np.isnan(est) | ((est >= -1e-12) & (est <= 1 + 1e-12))
    assert ok[unit.to_numpy()].all(), ep[unit & ~ok]
    ratio = ep["endpoint"].str.endswith(("_ratio", "_rate", "_median", "_per_patient", "_median_years"))
    assert np.all(np.isnan(est[ratio.to_numpy()]) | (est[ratio.to_numpy()] >= 0))
    lo, hi = ep["ci_low"].to_numpy(float), ep["ci_high"].to_numpy(float)
    both = np.isfinite(est) & np.isfinite(lo) & np.isfinite(hi)
    tol = 1e-9 * np.maximum(1, np.abs(est))
    assert np.all((lo[both] <= est[both] + tol[both]) & (est[both] <= hi[both] + tol[both])), ep[both & ((lo > est + tol) | (est > hi + tol))]
    for score in disease.scores:
        s_lo, s_hi = SCORE_RANGE[score.name]
        m = ep.loc[ep["endpoint"] == f"mean_{score.name}", "estimate"].to_numpy(float)
        assert np.all(np.isnan(m) | ((m >= s_lo) & (m <= s_hi)))


@pytest.mark.parametrize("disease", DISEASES.ids())
@VALID
@given(data=st.data())
def test_valid_scenarios_run(disease, data):
    scenario = data.draw(valid_scenario(disease), label="scenario")
    spec = parse_scenario(scenario, "<generated>")
    assert len(spec.arms) <= 12
    assert {a.therapy for a in spec.arms} == set(THERAPIES.ids())
    assert {a.conditioning.regimen for a in spec.arms if a.therapy == "ahsct"} == set(REGIMENS)
    with pytest.MonkeyPatch.context() as m:  # cheap enrolment: screen 100-candidate blocks
        m.setattr(remit.trial, "PILOT", 100)
        m.setattr(remit.population, "PILOT", 100)
        result = remit.trial.Trial(spec, "<generated>").run()
    _check_result(result, spec)
    if spec.subpopulations:  # every arm holds each group's share; each group analysed alone
        sizes = dict(zip([g.name for g in spec.subpopulations], remit.trial.group_sizes(spec)))
        for arm, rows in result.patients.groupby("arm"):
            assert rows["group"].value_counts().to_dict() == {g: n for g, n in sizes.items() if n}, arm
        assert set(result.subgroups["group"]) == {g for g, n in sizes.items() if n}
    else:
        assert result.subgroups is None and "group" not in result.patients


# ================================================================== invalid scenarios

def _base(disease: str) -> dict:
    """A valid scenario: arms[0] aHSCT, arms[1] MSC (2 doses), arms[2] conventional, arms[3] placebo."""
    drug = sorted(get_disease(disease).drugs)[0]
    return {
        "trial": {"name": "base", "disease": disease, "seed": 1, "follow_up_years": 1, "patients_per_arm": 10},
        "population": {"female_fraction": 0.5, "age": {"mean": 40, "sd": 10, "min": 18, "max": 65}},
        "arms": [
            {"name": "aHSCT", "therapy": "ahsct", "mobilization": {"cyclophosphamide_g_per_m2": 2.0, "g_csf": True},
             "graft": {"source": "peripheral_blood", "cd34_per_kg": 5e6},
             "conditioning": {"regimen": "cy_atg", "cyclophosphamide_mg_per_kg": 200, "atg_mg_per_kg": 6.0}},
            {"name": "MSC", "therapy": "msc", "source": "bone_marrow", "dose_cells_per_kg": 1e6, "route": "intravenous",
             "schedule": {"doses": 2, "interval_days": 30}},
            {"name": "Drug", "therapy": "conventional", "drugs": [drug]},
            {"name": "Placebo", "therapy": "placebo", "background": []},
        ],
    }


# (path, lo, hi, lo_open, hi_open, integer): every kind of numeric field
NUMBERS = [
    (("trial", "seed"), 0, 2**63 - 1, False, False, True),
    (("trial", "follow_up_years"), 0, 30, True, False, False),
    (("trial", "patients_per_arm"), 1, 10_000_000, False, False, True),
    (("population", "female_fraction"), 0, 1, False, False, False),
    (("population", "age", "mean"), 0, 100, False, False, False),
    (("population", "age", "sd"), 0, 100, True, False, False),
    (("arms", 0, "mobilization", "cyclophosphamide_g_per_m2"), 0, 7, False, False, False),
    (("arms", 0, "graft", "cd34_per_kg"), 1e4, 1e8, False, False, False),
    (("arms", 0, "conditioning", "cyclophosphamide_mg_per_kg"), 0, 260, False, False, False),
    (("arms", 0, "conditioning", "atg_mg_per_kg"), 0, 15, False, False, False),
    (("arms", 0, "conditioning", "equine_atg_mg_per_kg"), 0, 200, False, False, False),
    (("arms", 0, "conditioning", "rituximab_mg"), 0, 2000, False, False, False),
    (("arms", 0, "conditioning", "fludarabine_mg_per_m2"), 0, 250, False, False, False),
    (("arms", 0, "conditioning", "methylprednisolone_mg"), 0, 10000, False, False, False),
    (("arms", 0, "graft_day"), 10, 120, False, False, False),
    (("arms", 1, "dose_cells_per_kg"), 1e4, 1e9, False, False, False),
    (("arms", 1, "schedule", "doses"), 1, 52, False, False, True),
    (("arms", 1, "schedule", "interval_days"), 1, 365, False, False, False),
    (("arms", 2, "stop_year"), 0, 1, True, True, False),  # before the end of follow-up (1 year)
]
# (path, allowed words): every kind of choice
CHOICES = [
    (("trial", "disease"), DISEASES.ids()),
    (("arms", 0, "therapy"), THERAPIES.ids()),
    (("arms", 0, "conditioning", "regimen"), REGIMENS),
    (("arms", 0, "graft", "source"), GRAFT_SOURCES),
    (("arms", 1, "source"), MSC_SOURCES),
    (("arms", 1, "route"), MSC_ROUTES),
    (("arms", 2, "drugs", 0), None),  # None: the disease's drugs
    (("arms", 3, "background", 0), None),
]
BOOLS = [(("arms", 0, "mobilization", "g_csf"),), (("arms", 0, "graft", "cd34_selection"),)]


def _path_text(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _set(data: dict, path, value) -> None:
    node = data
    for part in path[:-1]:
        node = node[part]
    if isinstance(node, list) and path[-1] >= len(node):
        node.append(value)
    else:
        node[path[-1]] = value


def _outside(lo, hi, lo_open, hi_open, integer) -> st.SearchStrategy:
    """Numbers a field must reject: outside its range, not finite, or of the wrong kind."""
    below = st.floats(max_value=lo, exclude_max=not lo_open, allow_nan=False) if math.isfinite(lo) else st.nothing()
    above = st.floats(min_value=hi, exclude_min=not hi_open, allow_nan=False)
    specials = st.sampled_from([math.nan, math.inf, -math.inf, -1e308, 1e308, -1.0, 1e9, 1e300])
    ints = st.integers(max_value=int(lo) - (0 if lo_open else 1)) | st.integers(min_value=int(hi) + (0 if hi_open else 1))
    if integer:
        ints = st.integers(max_value=int(lo) - 1) | st.integers(min_value=int(hi) + 1)
        return ints | st.floats(allow_nan=True) | specials | st.sampled_from([0, -1, 10**9, 2**63 - 1]).filter(
            lambda x: not lo <= x <= hi)
    values = below | above | specials | ints
    return values.filter(lambda x: not (isinstance(x, float) and math.isfinite(x) and
                                        (lo < x if lo_open else lo <= x) and (x < hi if hi_open else x <= hi)))


_WRONG_TYPE = (st.text(max_size=20) | st.booleans() | st.lists(st.integers(), max_size=3)
               | st.dictionaries(st.text("abc", min_size=1, max_size=3), st.integers(), max_size=2)
               | st.dates() | st.datetimes() | st.times())


@st.composite
def bad_field(draw):
    """(scenario, field path text): one field of a valid scenario given a value it must reject."""
    disease = draw(st.sampled_from(DISEASES.ids()))
    data = _base(disease)
    kind = draw(st.sampled_from(["number", "number", "number", "type", "choice", "choice", "bool", "visit",
                                 "composite", "groups"]))
    if kind == "groups":  # fractions that do not add up to 1, or a group named like an earlier one
        groups = draw(valid_groups())
        if len(groups) > 1 and draw(st.booleans()):
            i = draw(st.integers(1, len(groups) - 1))
            groups[i]["name"] = groups[draw(st.integers(0, i - 1))]["name"].upper()
            data["population"]["groups"] = groups
            return data, f"population.groups[{i}].name"
        groups[-1]["fraction"] = draw(_between(0.001, 1).filter(
            lambda f: abs(math.fsum(g["fraction"] for g in groups[:-1]) + f - 1) > 1e-5))
        data["population"]["groups"] = groups
        return data, f"population.groups[{len(groups) - 1}].fraction"
    if kind == "composite":  # a level that is no endpoint of the disease, or the first level again at the end
        hierarchy = draw(valid_composite(disease))["hierarchy"]
        if draw(st.booleans()):
            i = draw(st.integers(0, len(hierarchy)))
            hierarchy.insert(i, draw(st.text(max_size=12).filter(lambda v: v not in level_names(disease))))
        else:
            i = len(hierarchy)
            hierarchy.append(hierarchy[0] if isinstance(hierarchy[0], str) else hierarchy[0]["endpoint"])
        data["composites"] = [{"name": "composite", "hierarchy": hierarchy}]
        return data, f"composites[0].hierarchy[{i}]"
    if kind == "visit":  # one visit of a valid list: not a time, not after randomisation, beyond follow-up, or twice
        visits = draw(valid_visits(data["trial"]["follow_up_years"]))
        i = draw(st.integers(0, len(visits)))
        value = draw(st.sampled_from(["0w", "0d", "13m", "2y", "400d", "53w", "6", "m", "6 months", "-1w", "1e2d", ""])
                     | st.text(max_size=6).filter(lambda t: not re.fullmatch(r"\s*\d+(\.\d+)?\s*[dwmy]\s*", t))
                     | st.integers() | st.floats() | st.booleans() | (st.sampled_from(visits) if visits else st.nothing()))
        visits.insert(i, value)
        data["trial"]["visits"] = visits
        twice = isinstance(value, str) and visits.count(value) > 1  # the later of the two is refused
        return data, "trial.visits[" if twice else f"trial.visits[{i}]"
    if kind in ("number", "type"):
        path, lo, hi, lo_open, hi_open, integer = draw(st.sampled_from(NUMBERS))
        value = draw(_outside(lo, hi, lo_open, hi_open, integer)) if kind == "number" else draw(_WRONG_TYPE)
        if kind == "type" and not integer and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
    elif kind == "choice":
        path, allowed = draw(st.sampled_from(CHOICES))
        allowed = allowed or tuple(get_disease(disease).drugs)
        value = draw(st.text(max_size=30).filter(lambda s: s not in allowed) | _WRONG_TYPE.filter(lambda x: not isinstance(x, str)))
    else:
        (path,) = draw(st.sampled_from(BOOLS))
        value = draw(st.integers() | st.floats() | st.text(max_size=5) | st.sampled_from(["true", "false", 0, 1]))
    _set(data, path, value)
    return data, _path_text(path)


@st.composite
def bad_structure(draw):
    """(scenario, text the message must contain)."""
    data = _base(draw(st.sampled_from(DISEASES.ids())))
    arms = data["arms"]
    kind = draw(st.sampled_from(["no_arms", "empty_arms", "many_arms", "duplicate", "unknown_key", "missing",
                                 "huge_string", "arms_not_list", "arm_not_table", "top_level_scalar"]))
    if kind == "no_arms":
        del data["arms"]
        return data, "arms"
    if kind == "empty_arms":
        data["arms"] = []
        return data, "arms"
    if kind == "many_arms":
        n = draw(st.integers(13, 40))
        data["arms"] = [{**arms[3], "name": f"P{i}"} for i in range(n)]
        return data, "arms"
    if kind == "duplicate":
        i, j = sorted(draw(st.lists(st.integers(0, 3), min_size=2, max_size=2, unique=True)))
        name = arms[i]["name"]
        arms[j]["name"] = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in name)
        return data, f"arms[{j}].name"
    if kind == "unknown_key":
        table, where = draw(st.sampled_from([(data["trial"], "trial"), (data["population"], "population"),
                                             (arms[0]["graft"], "arms[0].graft"), (arms[1], "arms[1]"),
                                             (arms[0]["conditioning"], "arms[0].conditioning"), (data, "")]))
        key = draw(st.text(st.characters(min_codepoint=48, max_codepoint=122), min_size=1, max_size=20)
                   .filter(lambda k: k not in table and k not in ("trial", "population", "arms")))
        table[key] = draw(st.integers() | st.text(max_size=5))
        return data, where
    if kind == "missing":
        path = draw(st.sampled_from([("trial", "name"), ("trial", "disease"), ("trial", "seed"), ("trial", "follow_up_years"),
                                     ("trial", "patients_per_arm"), ("arms", 0, "graft"), ("arms", 0, "conditioning"),
                                     ("arms", 0, "mobilization"), ("arms", 1, "route"), ("arms", 2, "drugs"),
                                     ("arms", 0, "conditioning", "regimen"), ("arms", 3, "name"), ("trial",)]))
        # (a missing conditioning dose is not an error: the regimen's standard protocol fills it in)
        node = data
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]
        return data, _path_text(path)
    if kind == "huge_string":
        n = draw(st.sampled_from([201, 1000, 100_000, 2_000_000]))
        text = draw(st.sampled_from(["x", "é", "😀", "a b"])) * n
        path = draw(st.sampled_from([("trial", "name"), ("arms", 0, "name"), ("arms", 2, "drugs", 0),
                                     ("trial", "control_arm"), ("arms", 1, "route")]))
        _set(data, path, text[:n])
        return data, _path_text(path)
    if kind == "arms_not_list":
        data["arms"] = draw(st.integers() | st.text(max_size=5) | st.just({"name": "x"}))
        return data, "arms"
    if kind == "arm_not_table":
        arms[draw(st.integers(0, 3))] = draw(st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2))
        return data, "arms["
    return {"trial": draw(st.integers() | st.text(max_size=5))}, "trial"


def _toml_bomb(depth: int, kind: str) -> bytes:
    if kind == "arrays":
        return b"[trial]\nname = " + b"[" * depth + b"1" + b"]" * depth + b"\n"
    if kind == "tables":
        return b"x = " + b"{a = " * depth + b"1" + b"}" * depth + b"\n"
    if kind == "dotted":
        return b".".join([b"a"] * depth) + b" = 1\n"
    return b"[" + b".".join([b"t"] * depth) + b"]\nx = 1\n"


VALID_BYTES = tomli_w.dumps(_base("multiple_sclerosis")).encode()


@st.composite
def bad_bytes(draw):
    """Raw file contents that are not a scenario."""
    kind = draw(st.sampled_from(["utf8", "utf8", "bomb", "bomb", "malformed", "random"]))
    if kind == "utf8":
        bad = draw(st.sampled_from([b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80",
                                    b"\xe2\x82", b"\xc0\xaf"]))
        at = draw(st.integers(0, len(VALID_BYTES)))
        return VALID_BYTES[:at] + bad + VALID_BYTES[at:]
    if kind == "bomb":
        depth = draw(st.sampled_from([33, 100, 1000, 10_000, 100_000]) | st.integers(33, 5000))
        return _toml_bomb(depth, draw(st.sampled_from(["arrays", "tables", "dotted", "headers"])))
    if kind == "malformed":
        at = draw(st.integers(0, len(VALID_BYTES)))
        junk = draw(st.sampled_from([b"[", b"]", b"=", b'"', b"[[", b"\x00", b"{", b"key", b"\n=\n", b"'''"]))
        return VALID_BYTES[:at] + junk + VALID_BYTES[at:]
    return draw(st.binary(max_size=200))


def _write(tmp: Path, name: str, data) -> Path:
    path = tmp / name
    path.write_bytes(data if isinstance(data, bytes) else tomli_w.dumps(data).encode())
    return path


def _rejected(path: Path, must_contain: str | None = None) -> str:
    t = time.perf_counter()
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert time.perf_counter() - t < LOAD_SECONDS, "answered too slowly"
    msg = str(info.value)
    assert "\n" not in msg and "\r" not in msg, msg
    assert msg.startswith(f"{path}: "), msg
    if must_contain is not None:
        assert must_contain in msg, (must_contain, msg[:300])
    return msg


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("generated")


@FAST(250)
@given(case=bad_field())
def test_invalid_field_values_are_rejected(scratch, case):
    data, field = case
    _rejected(_write(scratch, "field.toml", data), field)


@FAST(150)
@given(case=bad_structure())
def test_invalid_structure_is_rejected(scratch, case):
    data, where = case
    msg = _rejected(_write(scratch, "structure.toml", data), where)
    assert len(msg) < 2000, len(msg)  # a huge value is shown shortened


@FAST(120)
@given(raw=bad_bytes())
def test_invalid_bytes_are_rejected(scratch, raw):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        _rejected(_write(scratch, "bytes.toml", raw), "not valid UTF-8")
        return
    if text.startswith(("[trial]\nname = [[[", "x = {a = {a", "a.a.a", "[t.t.t")):
        _rejected(_write(scratch, "bytes.toml", raw), "nested too deeply")
        return
    _rejected(_write(scratch, "bytes.toml", raw))


@FAST(60)
@given(case=st.one_of(bad_field(), bad_structure(), bad_bytes().map(lambda b: (b, None))))
def test_invalid_scenarios_exit_2_on_the_command_line(scratch, case):
    data, _ = case
    path = _write(scratch, "cli.toml", data)
    out = scratch / "never"
    res = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--quiet"])
    assert res.exit_code == 2, res.output
    msg = res.output.strip()
    assert len(msg.splitlines()) == 1 and "Traceback" not in msg, msg[:500]
    assert msg.startswith(f"remit: error: {path}: "), msg[:500]
    assert not out.exists()


@pytest.mark.parametrize("raw", [
    _toml_bomb(200_000, "arrays"),
    _toml_bomb(50_000, "tables"),
    b"[trial]\nname = \"\xff\xfe\"\n",
], ids=["array_bomb", "table_bomb", "non_utf8"])
def test_real_command_answers_in_one_line(tmp_path, raw):
    path = tmp_path / "s.toml"
    path.write_bytes(raw)
    proc = subprocess.run([sys.executable, "-m", "remit.cli", "run", str(path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, proc.stderr[-2000:]
    assert proc.stderr.startswith(f"remit: error: {path}: ") and "Traceback" not in proc.stderr


def test_scenario_with_datetime_values_rejected(tmp_path):
    data = _base("lupus")
    data["trial"]["seed"] = datetime.datetime(2020, 1, 1, 12, 0)
    _rejected(_write(tmp_path, "d.toml", data), "trial.seed")


@pytest.mark.parametrize("kind", ["dotted", "headers"])
def test_dotted_key_bomb_is_refused_before_parsing(tmp_path, kind):
    """Regression: tomllib's cost is quadratic in a dotted key's parts (100,000 parts ran out of memory)."""
    _rejected(_write(tmp_path, "bomb.toml", _toml_bomb(100_000, kind)), "nested too deeply")
