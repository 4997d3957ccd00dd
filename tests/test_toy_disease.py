"""A disease defined entirely in tests/ (tests/toy_disease.py) plugs in without an edit to src/:
it runs a trial, a prediction, a validation of its own (synthetic) evidence record and the SBML
export, through the same entry points as the shipped diseases."""

from __future__ import annotations

import numpy as np
import pytest

import toy_disease
from remit.diseases import DISEASES, build_model


@pytest.fixture(scope="module")
def toy():
    disease = toy_disease.register()
    yield disease
    toy_disease.unregister()


def test_toy_registers_and_builds_its_model(toy):
    assert toy_disease.NAME in DISEASES.ids()
    model = build_model(toy_disease.NAME)
    assert "toy_scar" in model.state_names and "toy_score_per_lesion" in model.parameter_names


def test_toy_runs_a_trial_with_its_endpoints(toy, tmp_path):
    from remit.evidence import load_trial_scenario
    from remit.trial import Trial

    spec = load_trial_scenario("toy-contract-2026")
    result = Trial(spec).run(out=tmp_path / "run", chunk_size=25)
    ep = result.endpoints
    assert {"mean_score", "flare_free"} <= set(ep["endpoint"])
    scores = ep[(ep["endpoint"] == "mean_score") & (ep["timepoint_years"] == 1)]
    assert len(scores) == 2 and np.isfinite(scores["estimate"]).all()
    # aHSCT stops the joint's inflammation; the toy drug halves it: lower scores after transplant
    by_arm = dict(zip(scores["arm"], scores["estimate"]))
    assert by_arm["aHSCT"] < by_arm["Toy drug"]
    assert (tmp_path / "run" / "report.html").is_file()


def test_toy_predicts_one_patient(toy):
    from remit.predict import parse_patient, predict

    patient = parse_patient({"disease": toy_disease.NAME, "age": 40, "sex": "female",
                             "disease_duration_years": 3, "score": 5.0})
    pred = predict(patient, n_twins=50, n_groups=5, follow_up_years=2)
    out = pred.to_dict()
    assert [o["id"] for o in out["options"]] == ["ahsct-cy-atg", "toy-drug"]
    assert {o["id"] for o in out["outcomes"]} >= {"flare", "score"}


def test_toy_validates_its_own_evidence_record(toy, tmp_path):
    from remit.validate import run_validation

    result = run_validation(out=tmp_path / "v", disease=toy_disease.NAME, patients_per_arm=40)
    table = result.table
    assert list(table["trial_id"].unique()) == ["toy-contract-2026"]
    row = table.iloc[0]
    assert np.isfinite(row["simulated"]) and row["agree"] in (True, False)
    assert (tmp_path / "v" / "validation.html").is_file()


def test_toy_exports_sbml(toy):
    import libsbml

    from remit.sbml import to_sbml

    doc = libsbml.readSBMLFromString(to_sbml(build_model(toy_disease.NAME)))
    assert doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) == 0
    assert doc.getModel().getElementBySId("toy_scar") is not None
