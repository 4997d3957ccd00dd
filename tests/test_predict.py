"""remit.predict: one patient, every option (virtual twins, intervals, warnings, JSON, errors)."""

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from remit.cli import app
from remit.errors import ScenarioError
from remit.guidelines import warnings_for
from remit.predict import SCHEMA, PredictError, default_options, load_patient, parse_patient, predict
from remit.uncertainty import weighted_quantile

EX = Path(__file__).resolve().parents[1] / "examples"
YOUNG = EX / "patient_ms_young_active.toml"
OLDER = EX / "patient_ms_older_progressive.toml"
OPTS = ["ahsct-cy-atg", "interferon-beta"]


@pytest.fixture(scope="module")
def young():
    t = time.perf_counter()
    p = predict(YOUNG, options=OPTS, n_twins=100)
    p.elapsed = time.perf_counter() - t
    return p


@pytest.fixture(scope="module")
def older():
    return predict(OLDER, options=OPTS, n_twins=100)


def _pf5(pred, option):
    return pred.estimate(option, "progression", 5.0)


def test_young_active_patient_benefits_clearly_more_from_ahsct_than_the_older_one(young, older):
    y_ahsct, y_ifn = _pf5(young, "ahsct-cy-atg"), _pf5(young, "interferon-beta")
    o_ahsct, o_ifn = _pf5(older, "ahsct-cy-atg"), _pf5(older, "interferon-beta")
    young_gain = y_ahsct["estimate"] - y_ifn["estimate"]
    older_gain = o_ahsct["estimate"] - o_ifn["estimate"]
    assert young_gain > 0.3, (y_ahsct, y_ifn)
    assert abs(older_gain) < 0.1, (o_ahsct, o_ifn)
    # the paired difference (same twins) excludes 0 for the young patient
    d = young.results["ahsct-cy-atg"]["difference_vs_reference"]["progression"][-1]
    assert d["year"] == 5.0 and d["low"] > 0.1
    # intervals bracket the estimates
    for r in (y_ahsct, y_ifn, o_ahsct, o_ifn):
        assert r["low"] - 1e-9 <= r["estimate"] <= r["high"] + 1e-9


def test_older_progressive_patient_gets_warnings(older, young):
    levels = {w.level for w in older.warnings if "ahsct" in w.kinds}
    assert "contraindication" in levels and "caution" in levels
    texts = " ".join(w.message for w in older.warnings)
    assert "EDSS 6.5" in texts and "Age 56" in texts
    assert all(w.source for w in older.warnings)
    assert not any(w.level == "contraindication" for w in young.warnings)


def test_json_output_schema(young):
    d = json.loads(json.dumps(young.to_dict()))
    assert d["schema"] == SCHEMA and d["disease"] == "multiple_sclerosis"
    assert d["horizons_years"] == [1.0, 2.0, 5.0]
    assert {o["id"] for o in d["outcomes"]} >= {"progression", "treatment_related_death", "edss", "neda3"}
    assert [o["id"] for o in d["options"]] == OPTS and d["reference_option"] == "interferon-beta"
    for o in d["options"]:
        for out in d["outcomes"]:
            rows = o["estimates"][out["id"]]
            assert [r["year"] for r in rows] == [1.0, 2.0, 5.0]
            assert set(rows[0]) == {"year", "estimate", "low", "high"}
            c = o["curves"][out["id"]]
            assert len(c["t_years"]) == len(c["estimate"]) == len(c["low"]) == len(c["high"])
        assert o["difference_vs_reference"]["progression"][-1]["year"] == 5.0
    m = d["method"]
    assert m["twins"] == 100 and sum(m["twins_per_group"]) == 100
    assert "prior" in m["parameter_uncertainty"] and "posterior" in m["parameter_uncertainty"]
    assert {x["column"] for x in m["matched_on"]} >= {"edss_baseline", "relapses_prior_year", "new_lesions_prior_year"}
    assert 27 <= m["twin_age_range"][0] <= m["twin_age_range"][1] <= 29


def test_prediction_is_fast(young):
    assert young.elapsed < 60


@pytest.mark.parametrize("change, message", [
    ({"edss": 12}, "edss = 12: must be between 0 and 9.5 EDSS points"),
    ({"edss": 3.2}, "edss = 3.2: must be on the EDSS scale"),
    ({"age": "thirty"}, "age: expected a number, got string 'thirty' (must be between 12 and 80 years)"),
    ({"relapses_prior_year": 1.5}, "relapses_prior_year: expected an integer"),
    ({"prior_treatments": ["aspirin"]}, "prior_treatments[0] = 'aspirin': must be one of"),
    ({"disease_duration_years": 30}, "disease_duration_years = 30.0: must be at most age - 12"),
    ({"edds": 3}, "edds: unknown key"),
    ({"disease": "asthma"}, "disease = 'asthma': must be one of multiple_sclerosis"),
])
def test_bad_patient_gives_a_one_line_error(change, message):
    data = {"disease": "multiple_sclerosis", "age": 28, "sex": "female", "disease_duration_years": 4,
            "course": "relapsing_remitting", "edss": 3.0, "relapses_prior_year": 2, **change}
    with pytest.raises(ScenarioError) as err:
        parse_patient(data, "patient.toml")
    text = str(err.value)
    assert "\n" not in text and text.startswith("patient.toml: ") and message in text, text


def test_bad_patient_file(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('disease = "multiple_sclerosis"\nage = 28\n')
    with pytest.raises(ScenarioError, match=r"p.toml: sex: missing required field"):
        load_patient(f)
    res = CliRunner().invoke(app, ["predict", str(f)])
    assert res.exit_code == 2 and "missing required field" in res.output


def test_requests_beyond_limits_are_refused():
    with pytest.raises(PredictError, match="n_twins = 5000: must be between"):
        predict(OLDER, n_twins=5000)
    with pytest.raises(PredictError, match="follow_up_years = 40: must be"):
        predict(OLDER, follow_up_years=40)
    with pytest.raises(PredictError, match="unknown option 'magic'"):
        predict(OLDER, options=["magic"])


def test_every_example_patient_parses_and_has_options():
    files = sorted(EX.glob("patient_*.toml"))
    diseases = {load_patient(f).DISEASE for f in files}
    assert diseases == {"multiple_sclerosis", "systemic_sclerosis", "rheumatoid_arthritis", "lupus",
                        "crohns_disease", "type1_diabetes"}
    for f in files:
        p = load_patient(f)
        kinds = {o.kind for o in default_options(p)}
        # CAR-T where the published CD19 CAR-T series are (lupus, systemic sclerosis)
        car_t = {"car_t"} if p.DISEASE in ("lupus", "systemic_sclerosis") else set()
        assert kinds == {"ahsct", "msc", "conventional"} | car_t, f


def test_ssc_cardiopulmonary_contraindications():
    p = parse_patient({"disease": "systemic_sclerosis", "age": 45, "sex": "female", "disease_duration_years": 2,
                       "mrss": 25, "fvc_percent_predicted": 42, "dlco_percent_predicted": 35, "lvef_percent": 40,
                       "cardiac_involvement": True, "pulmonary_hypertension": True})
    w = warnings_for(p, default_options(p))
    contra = " ".join(x.message for x in w if x.level == "contraindication")
    for word in ("LVEF 40%", "Pulmonary hypertension", "FVC 42%", "DLCO 35%"):
        assert word in contra
    assert any("cardiac" in x.message.lower() and x.level == "caution" for x in w)


def test_t1d_late_and_dka_warnings():
    p = parse_patient({"disease": "type1_diabetes", "age": 20, "sex": "male", "disease_duration_years": 0.5,
                       "c_peptide_nmol_per_l": 0.4, "dka_at_diagnosis": True})
    msgs = " ".join(x.message for x in warnings_for(p))
    assert "6 weeks" in msgs and "ketoacidosis" in msgs


def test_weighted_quantile():
    assert weighted_quantile([1, 2, 3], [1, 1, 1], 0.5) == 2
    assert weighted_quantile([1, 2, 3], [0, 1, 0], 0.05) == 2
    assert weighted_quantile([float("nan"), 1.0], [1, 1], 0.5) == 1


def test_cli_predict_json():
    res = CliRunner().invoke(app, ["predict", str(OLDER), "--json", "--twins", "50", "--option", "ahsct-cy-atg",
                                   "--option", "interferon-beta"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["schema"] == SCHEMA and len(d["options"]) == 2
