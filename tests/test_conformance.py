"""Every registered unit meets its contract: parametrised over the registries, so a new disease or
therapy is tested the moment it registers (tests/toy_disease.py is one, registered here too).

- a disease builds its model, runs its example trial with finite, non-negative states and finite
  scores, gives identical results under the same seed, and exports to SBML without error;
- a therapy's example arm validates in every disease and plans sorted events inside follow-up.

Solvers are covered by tests/test_solvers.py. Endpoint kinds are not a registry yet (the four
kinds of remit.diseases.base), so they have no conformance test here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import toy_disease
from remit.diseases import DISEASES, build_model, get_disease
from remit.scenario import parse_scenario
from remit.therapies import THERAPIES, arm_plan

DISEASE_IDS = (*DISEASES.ids(), toy_disease.NAME)


@pytest.fixture(autouse=True, scope="module")
def _toy_registered():
    toy_disease.register()
    yield
    toy_disease.unregister()


def _run(disease: str, tmp_path, chunk_size: int):
    from remit.trial import Trial

    spec = parse_scenario(get_disease(disease).example(), f"{disease} example")
    return Trial(spec).run(out=tmp_path, chunk_size=chunk_size)


@pytest.mark.parametrize("disease", DISEASE_IDS)
def test_disease_builds_its_model(disease):
    model = build_model(disease, calibrated=False)
    assert model.name == disease
    names = model.state_names + model.parameter_names
    assert len(set(names)) == len(names)
    for p in model.parameters:
        assert p.unit is not None and p.low <= p.value <= p.high and p.source, p.name


@pytest.mark.parametrize("disease", DISEASE_IDS)
def test_disease_example_runs_and_repeats(disease, tmp_path):
    a = _run(disease, tmp_path / "a", chunk_size=20)
    b = _run(disease, tmp_path / "b", chunk_size=7)
    pats = a.patients
    assert len(pats) == 40
    d = get_disease(disease)
    for score in d.scores:  # every score is measured at baseline, finite
        assert np.isfinite(pats[f"{score.name}_y0"].to_numpy(float)).all(), score.name
    for e in d.endpoints:  # every time to event is within follow-up (NaN: not in the endpoint's risk set)
        if hasattr(e, "time_col"):
            years = pats[e.time_col].to_numpy(float)
            years = years[~np.isnan(years)]
            assert ((years >= 0) & (years <= 2.0 + 1e-9)).all(), e.name
    ep = a.endpoints
    assert set(ep["endpoint"]) and np.isfinite(ep["estimate"].dropna()).all()
    # the same scenario and seed, another chunk size: the same numbers
    assert a.patients.equals(b.patients)
    assert a.endpoints.equals(b.endpoints)


@pytest.mark.parametrize("disease", DISEASE_IDS)
def test_disease_states_stay_finite_and_non_negative(disease):
    from remit.engine.integrate import simulate
    from remit.population import draw_candidates
    from remit.trial import output_grid

    model = build_model(disease)
    spec = parse_scenario(get_disease(disease).example(), "example")
    _, P, y0 = draw_candidates(model, spec, np.arange(8))
    plan = arm_plan(model, spec.arms[0], get_disease(disease).drugs)
    traj = simulate(model, y0, P, plan.schedule, output_grid(365.25))
    ok = traj.status == 0
    assert ok.all()
    assert np.isfinite(traj.y).all()
    negative = [s.name for j, s in enumerate(model.states) if s.nonnegative and (traj.y[:, :, j] < -1e-9).any()]
    assert not negative


@pytest.mark.parametrize("disease", DISEASE_IDS)
def test_disease_exports_sbml(disease):
    import libsbml

    from remit.sbml import to_sbml

    doc = libsbml.readSBMLFromString(to_sbml(build_model(disease)))
    assert doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) == 0
    assert doc.getNumErrors(libsbml.LIBSBML_SEV_FATAL) == 0


@pytest.mark.parametrize("therapy", THERAPIES.ids())
@pytest.mark.parametrize("disease", DISEASE_IDS)
def test_therapy_plans_sorted_events_in_every_disease(therapy, disease):
    d = get_disease(disease)
    model = build_model(disease)
    data = d.example()
    data["arms"] = [{"name": "X", **THERAPIES.get(therapy).example(d.drugs)}, data["arms"][1]]
    spec = parse_scenario(data, f"{therapy} in {disease}")
    arm = spec.arms[0]
    assert arm.therapy == therapy
    plan = arm_plan(model, arm, d.drugs)
    t = np.asarray(plan.schedule.t)
    horizon = spec.trial.follow_up_years * 365.25
    assert (np.diff(t) >= 0).all()
    assert ((t >= 0) & (t <= horizon)).all()
    assert 0.0 <= plan.organ_toxicity_death < 1.0
    assert math.isnan(plan.graft_day) or 0 < plan.graft_day < horizon
