"""remit credibility: the per-disease report (context of use, verification, validation, sensitivity,
evidence, limitations), on type 1 diabetes with a small validation run."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from remit.cli import app
from remit.validate import run_validation

DISEASE = "type1_diabetes"


def test_credibility_report_of_one_disease(tmp_path):
    run_validation(tmp_path / "val", disease=DISEASE, patients_per_arm=20, posterior_draws=3)
    out = tmp_path / "cred"
    res = CliRunner().invoke(app, ["credibility", "--out", str(out), "--disease", DISEASE, "--validation",
                                   str(tmp_path / "val"), "--sensitivity-samples", "4", "--quiet"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "credibility.json").read_text())["diseases"][0]
    assert doc["disease"] == DISEASE and doc["context_of_use"]["primary_endpoint"]
    # verification is measured, each against its criterion: code vs sympy, engine vs Radau, SBML vs roadrunner
    checks = {c["name"]: c for c in doc["verification"]}
    assert len(checks) == 3
    for c in checks.values():
        assert c["passed"] and 0 <= c["measured"] < c["criterion"], c
    roles = {r["role"] for r in doc["validation"]["summary"]}
    assert roles == {"calibration", "validation"} and all("coverage" in r for r in doc["validation"]["summary"])
    assert doc["cross_validation"] is None  # not run: the report says so
    sens = doc["sensitivity"]
    assert {r["parameter"] for r in sens["indices"]} == {"indep_function", "stun_max", "beta_regen"}
    assert {e["id"] for e in doc["evidence"]} >= {"t1d-voltarelli-2007", "t1d-gu-dka"}
    assert all(e["citation"] for e in doc["evidence"])
    html = (out / "credibility.html").read_text(encoding="utf-8")
    for heading in ("1. Context of use", "2. Verification", "3. Validation", "4. Sensitivity", "5. Evidence",
                    "6. What the model cannot yet express", "Cross-validation not in this report"):
        assert heading in html
    # a folder without validation.csv: one clear line
    res = CliRunner().invoke(app, ["credibility", "--out", str(out), "--disease", DISEASE, "--validation",
                                   str(tmp_path / "nothing"), "--quiet"])
    assert res.exit_code == 2 and "validation.csv: not found" in res.output, res.output
