"""The command line: malformed scenarios exit with code 2 and one line naming file, field, value, range."""

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from remit.cli import app

GOOD = Path("examples/ms_ahsct_vs_dmt.toml").read_text()

BAD = {
    "unknown_key": (GOOD.replace('course = "relapsing_remitting"', 'course = "relapsing_remitting"\ncolour = "red"'), "population.colour"),
    "wrong_type": (GOOD.replace("seed = 2019", 'seed = "2019"'), "trial.seed"),
    "missing_field": (GOOD.replace("seed = 2019\n", ""), "trial.seed"),
    "atg_out_of_range": (GOOD.replace("atg_mg_per_kg = 6.0", "atg_mg_per_kg = 40.0"), "atg_mg_per_kg"),
    "negative_cd34": (GOOD.replace("cd34_per_kg = 5.0e6", "cd34_per_kg = -5.0e6"), "cd34_per_kg"),
    "follow_up_zero": (GOOD.replace("follow_up_years = 5", "follow_up_years = 0"), "follow_up_years"),
    "follow_up_200": (GOOD.replace("follow_up_years = 5", "follow_up_years = 200"), "follow_up_years"),
    "patients_zero": (GOOD.replace("patients_per_arm = 2000", "patients_per_arm = 0"), "patients_per_arm"),
    "patients_huge": (GOOD.replace("patients_per_arm = 2000", "patients_per_arm = 1000000000"), "patients_per_arm"),
    "unknown_regimen": (GOOD.replace('regimen = "cy_atg"', 'regimen = "flu_mel"'), "regimen"),
    "unknown_source": (GOOD.replace('source = "peripheral_blood"', 'source = "liver"'), "source"),
    "unknown_drug": (GOOD.replace('drugs = ["natalizumab"]', 'drugs = ["aspirin"]'), "drugs"),
    "age_min_gt_max": (GOOD.replace("min = 18, max = 55", "min = 60, max = 55"), "age"),
    "bad_toml": (GOOD.replace("[trial]", "[trial"), "line"),
    "duplicate_arms": (GOOD.replace('name = "DMT"', 'name = "aHSCT"').replace('control_arm = "DMT"\n', ""), "arms"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_scenario_exits_2_with_one_line(tmp_path, case):
    text, field = BAD[case]
    path = tmp_path / f"{case}.toml"
    path.write_text(text)
    res = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    msg = res.output.strip()
    assert len(msg.splitlines()) == 1, msg
    assert "Traceback" not in msg
    assert f"{case}.toml" in msg and field in msg, msg
    assert not (tmp_path / "out").exists()


def test_non_utf8_and_missing_file(tmp_path):
    p = tmp_path / "bin.toml"
    p.write_bytes(b"\xff\xfe[trial]\n")
    for target in (p, tmp_path / "nope.toml"):
        res = CliRunner().invoke(app, ["run", str(target)])
        assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output


def test_help_starts_without_heavy_imports():
    code = "import sys, remit.cli; print(sorted(m for m in ('numba', 'scipy', 'pandas', 'sympy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", out


def test_run_command_writes_the_run_directory(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", "examples/ms_ahsct_vs_dmt.toml", "--patients-per-arm", "30", "--seed", "5",
                                   "--chunk-size", "64", "--out", str(out), "--quiet", "--compare", "ms-mist-2019"])
    assert res.exit_code == 0, res.output
    for f in ("report.html", "patients.parquet", "endpoints.csv", "provenance.json", "spec.toml"):
        assert (out / f).exists()
    assert "Published vs simulated" in res.output
