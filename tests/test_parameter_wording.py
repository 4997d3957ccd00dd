"""Every text that tells users which parameter values a prediction or a run rests on is true for each
disease: the calibrated posterior (or point estimate) where remit ships a calibration of the disease
(remit.calibration.shipped, data/calibration/<disease>.json), the literature priors elsewhere and
whenever a scenario or `remit validate` asks for them (`[model] defaults = "prior"`, `--defaults prior`)."""

import re
from pathlib import Path

import pytest

from remit.calibration import shipped
from remit.diseases import DISEASES
from remit.guidelines import MODEL, warnings_for
from remit.predict import default_options, parse_patient, patient_models, predict
from remit.scenario import load_scenario
from remit.trial import parameter_provenance
from remit.validate import _parameter_sets
from remit.uncertainty import CalibratedUncertainty, PriorUncertainty, default_parameter_source
from remit.web.render import disease_label

SCENARIOS = {load_scenario(p).trial.disease: p for p in sorted(Path("examples").glob("*.toml"))
             if not p.name.startswith(("patient_", "ms_million"))}
EXAMPLES = {d: m.EXAMPLE for d, m in patient_models().items()}
STALE = ("uncalibrated", "not a calibrated posterior", "no calibrated posterior yet")


def _model_note(patient, parameters=None) -> str:
    notes = [w.message for w in warnings_for(patient, default_options(patient), parameters) if w.source == MODEL]
    assert len(notes) == 1
    return notes[0]


def test_every_disease_has_an_example_scenario_and_patient():
    assert set(SCENARIOS) == set(DISEASES.ids()) == set(EXAMPLES)


@pytest.mark.parametrize("disease", DISEASES.ids())
def test_prediction_note_says_calibrated_exactly_where_a_calibration_ships(disease):
    doc = shipped.load(disease)
    patient = parse_patient(EXAMPLES[disease])
    source = default_parameter_source(disease)
    note = _model_note(patient, source.label)
    assert note == _model_note(patient)  # no label: the default source's
    assert not any(s in note for s in STALE), note
    if doc is not None:
        assert isinstance(source, CalibratedUncertainty)
        assert "calibrated posterior" in note and f"fitted to {shipped.fitted_trials(doc)}" in note
        assert "literature" not in note
    else:
        assert isinstance(source, PriorUncertainty)
        assert "model priors" in note and "remit ships no calibration for this disease" in note
        assert "calibrated posterior" not in note
    # a prediction asked to use the priors says so, whatever ships
    prior = _model_note(patient, PriorUncertainty().label)
    assert "model priors" in prior and "calibrated posterior" not in prior


@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    from remit.web import create_app

    return TestClient(create_app(n_twins_default=50))


def _footer(html: str) -> str:
    return " ".join(re.search(r"<footer>(.*?)</footer>", html, re.S).group(1).split()).replace("&#39;", "'")


@pytest.mark.parametrize("disease", DISEASES.ids())
def test_page_footer_says_calibrated_exactly_where_a_calibration_ships(client, disease):
    footer = _footer(client.get(f"/predict/{disease}").text)
    assert not any(s in footer for s in STALE), footer
    if shipped.load(disease) is not None:
        assert "calibrated posterior" in footer and "literature" not in footer
    else:
        assert "remit ships no calibration for this disease" in footer and "calibrated posterior" not in footer


def test_index_footer_names_the_calibrated_and_the_uncalibrated_diseases(client):
    footer = _footer(client.get("/").text)
    calibrated, _, prior = footer.partition("calibration remit ships.")  # two sentences: calibrated, then priors
    assert "draw the calibrated parameters" in calibrated and "remit ships no calibration" in prior
    assert not any(s in footer for s in STALE), footer
    for d in DISEASES.ids():
        assert disease_label(d) in (calibrated if shipped.load(d) is not None else prior), (d, footer)


def test_a_prediction_carries_the_note_of_the_source_it_used():
    """End to end (50 twins, one option, one year): the note quotes the prediction's own parameter source."""
    patient = parse_patient(EXAMPLES["multiple_sclerosis"])
    pred = predict(patient, options=[default_options(patient)[-1].id], n_twins=50, follow_up_years=1.0)
    label = pred.method["parameter_uncertainty"]
    assert "calibrated posterior" in label
    assert [w.message for w in pred.warnings if w.source == MODEL] == [_model_note(patient, label)]


@pytest.mark.parametrize("defaults", ["calibrated", "prior"])
@pytest.mark.parametrize("disease", DISEASES.ids())
def test_run_and_validation_texts_name_the_values_used(disease, defaults):
    """The run's provenance (provenance.json and the report) and `remit validate`'s line."""
    spec = load_scenario(SCENARIOS[disease]).with_overrides(defaults=defaults)
    run_text = parameter_provenance(spec)
    validate_text = _parameter_sets(None if defaults == "calibrated" else defaults, disease)
    if defaults == "prior":
        assert run_text == 'literature (prior) values: [model] defaults = "prior"'
        assert validate_text == "literature (prior) values for every disease (--defaults prior)"
    elif shipped.load(disease) is not None:
        assert run_text == shipped.describe(disease) and run_text.startswith("calibrated (")
        assert validate_text == f"{disease}: {shipped.describe(disease)}"
    else:
        assert run_text == "literature values (no shipped calibration for this disease)"
        assert validate_text == f"{disease}: literature values (not calibrated)"
