"""Per-patient parameter draws are keyed by the parameter's name, not its position.

A candidate's draw of a parameter comes from the counter its name derives
(:func:`remit.random.name_counter`), so composing the model with another module, or listing
its parameters in another order, changes no existing parameter's draws (nor the covariates and
onset states drawn from the other counters), bit for bit.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp

import remit.random
from remit.diseases import DISEASES, build_model, get_disease
from remit.model.core import core_module
from remit.therapies import THERAPIES
from remit.model.spec import Module, Parameter, State, compose
from remit.population import draw_candidates
from remit.random import NAMED_COUNTERS, POSITIONAL_LIMIT, name_counter
from remit.scenario import load_scenario

SCENARIOS = {
    "multiple_sclerosis": "examples/ms_ahsct_vs_dmt.toml",
    "systemic_sclerosis": "examples/ssc_astis.toml",
    "rheumatoid_arthritis": "examples/ra_cx611.toml",
    "lupus": "examples/sle_msc_wang2014.toml",
    "crohns_disease": "examples/cd_astic.toml",
    "type1_diabetes": "examples/t1d_voltarelli.toml",
}
INDEX = np.arange(0, 4000, 7)  # candidates, not contiguous
BLOCK = 1_000_000  # width of one fixed counter block (indexed by visit, interval or item)


def dummy_module(tag: str) -> Module:
    """A module with one state and two varying parameters, as a new disease or therapy would add."""
    x, k, f = sp.symbols(f"{tag}_x {tag}_rate {tag}_frac")
    return Module(tag, [State(f"{tag}_x", "1", "dummy state", 1.0)],
                  [Parameter(f"{tag}_rate", 0.1, "1/day", 0.01, 1.0, "test module", prior="lognormal", cv=0.4),
                   Parameter(f"{tag}_frac", 0.3, "1", 0.01, 0.99, "test module", prior="logitnormal", cv=0.5)],
                  {f"{tag}_x": -k * f * x})


def disease_modules(disease: str) -> list[Module]:
    """The modules :func:`remit.diseases.build_model` composes (core, disease, the therapies' own: MSC, CAR-T)."""
    return [core_module(), get_disease(disease).module(),
            *(m for _, t in THERAPIES.items() if (m := t.module()) is not None)]


def by_name(model, P, y0):
    return ({n: P[:, j] for j, n in enumerate(model.parameter_names)},
            {n: y0[:, j] for j, n in enumerate(model.state_names)})


def assert_same_draws(model, other, spec, index=INDEX):
    """Every parameter, state and covariate of ``model`` is drawn bit for bit the same in ``other``."""
    cov, P, y0 = draw_candidates(model, spec, index)
    cov2, P2, y02 = draw_candidates(other, spec, index)
    params, states = by_name(model, P, y0)
    params2, states2 = by_name(other, P2, y02)
    for name, v in params.items():
        assert np.array_equal(v, params2[name]), f"parameter {name} drawn differently"
    for name, v in states.items():
        assert np.array_equal(v, states2[name]), f"onset state {name} drawn differently"
    for name, v in cov.items():
        assert np.array_equal(v, cov2[name]), f"covariate {name} drawn differently"
    return params, params2


@pytest.mark.parametrize("disease", DISEASES)
def test_an_added_module_changes_no_existing_draws(disease):
    spec = load_scenario(SCENARIOS[disease])
    base = build_model(disease, calibrated=False)
    # one module before the core (every position shifts) and one after the therapies' modules
    extended = compose(disease, [dummy_module("first"), *disease_modules(disease), dummy_module("last")])
    assert extended.parameter_names == ["first_rate", "first_frac", *base.parameter_names, "last_rate", "last_frac"]
    _, params = assert_same_draws(base, extended, spec)
    for tag in ("first", "last"):  # the new parameters do vary between patients
        assert np.std(params[f"{tag}_rate"]) > 0 and np.std(params[f"{tag}_frac"]) > 0


def test_reordered_parameters_draw_the_same():
    spec = load_scenario(SCENARIOS["lupus"])
    model = build_model("lupus")
    rng = np.random.default_rng(0)
    shuffled = replace(model, parameters=tuple(model.parameters[j] for j in rng.permutation(len(model.parameters))))
    assert shuffled.parameter_names != model.parameter_names
    assert_same_draws(model, shuffled, spec)
    assert_same_draws(model, replace(model, parameters=model.parameters[::-1]), spec)


def test_parameter_draws_do_not_depend_on_chunking():
    spec = load_scenario(SCENARIOS["multiple_sclerosis"])
    model = build_model("multiple_sclerosis")
    _, whole, _ = draw_candidates(model, spec, INDEX)
    for size in (1, 37, 250):
        parts = [draw_candidates(model, spec, INDEX[s:s + size])[1] for s in range(0, len(INDEX), size)]
        assert np.array_equal(np.concatenate(parts), whole)


def test_parameters_are_independent_between_names():
    """Distinct names give distinct counters, hence different uniforms for the same candidate."""
    spec = load_scenario(SCENARIOS["multiple_sclerosis"])
    model = compose("multiple_sclerosis", [*disease_modules("multiple_sclerosis"), dummy_module("a"), dummy_module("b")])
    _, P, _ = draw_candidates(model, spec, INDEX)
    za = np.log(P[:, model.parameter_index("a_rate")] / 0.1)
    zb = np.log(P[:, model.parameter_index("b_rate")] / 0.1)
    assert abs(np.corrcoef(za, zb)[0, 1]) < 0.15  # 572 candidates: sd of r about 0.04


def test_name_counters_cannot_meet_the_fixed_counter_blocks():
    for disease in DISEASES:
        counters = build_model(disease).parameter_counters
        assert counters.dtype == np.uint64 and len(set(counters.tolist())) == len(counters)
        assert (counters >= np.uint64(NAMED_COUNTERS)).all()
    # every fixed block of the pipeline and the diseases, with room for its indices, stays below POSITIONAL_LIMIT
    blocks = {}
    for mod in ("remit.population", "remit.observe", "remit.diseases.base",
                *(f"remit.diseases.{d}.clinical" for d in DISEASES)):
        m = importlib.import_module(mod)
        for attr, value in vars(m).items():
            if attr.startswith("C_") or attr == "DISEASE_COUNTERS":
                for v in (value.values() if isinstance(value, dict) else [value]):
                    blocks[f"{mod}.{attr}"] = max(blocks.get(f"{mod}.{attr}", 0), int(v))
    assert len(blocks) >= 20
    for where, start in blocks.items():
        assert 0 <= start and start + BLOCK <= POSITIONAL_LIMIT, where


def test_colliding_parameter_names_are_refused(monkeypatch):
    monkeypatch.setattr(remit.random, "name_counter", lambda name: NAMED_COUNTERS | len(name))
    with pytest.raises(ValueError, match=r"parameters 'clash_rate' and 'clash_frac' derive the same random counter"):
        compose("clash", [dummy_module("clash")])  # both names have 10 characters


def test_name_counter_does_not_depend_on_the_interpreter_hash_seed():
    code = "from remit.random import name_counter; print(name_counter('teff_kill'), name_counter('é_unicode'))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    outs = {subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONHASHSEED": s}, capture_output=True,
                           text=True, check=True).stdout for s in ("0", "1", "12345")}
    assert outs == {f"{name_counter('teff_kill')} {name_counter('é_unicode')}\n"}


def test_prediction_groups_are_keyed_by_name():
    from remit.uncertainty import PriorUncertainty

    base = build_model("lupus", calibrated=False)
    extended = compose("lupus", [dummy_module("first"), *disease_modules("lupus")])
    source = PriorUncertainty()
    t, t2 = source.typical_values(base, 12, seed=5), source.typical_values(extended, 12, seed=5)
    for j, name in enumerate(base.parameter_names):
        assert np.array_equal(t[:, j], t2[:, extended.parameter_index(name)]), name
    varying = [j for j, p in enumerate(base.parameters) if p.prior != "fixed" and p.name not in source.keep]
    assert (np.std(t[:, varying], axis=0) > 0).all()
    assert np.array_equal(source.typical_values(base, 5, seed=5), t[:5])  # group g's draw whatever the number of groups
