"""The command line: malformed scenarios exit with code 2 and one line naming file, field, value, range."""

import json
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
                                   "--chunk-size", "64", "--out", str(out), "--quiet", "--compare", "ms-mist-2019",
                                   "--posterior-draws", "3", "--trial-size", "40"])
    assert res.exit_code == 0, res.output
    for f in ("report.html", "patients.parquet", "endpoints.csv", "provenance.json", "spec.toml"):
        assert (out / f).exists()
    assert "Published vs simulated" in res.output
    from remit.calibration import shipped

    # the MS model ships a calibration: provenance.json (and the report) say the run used it
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["parameters"] == shipped.describe("multiple_sclerosis")
    # the predictive intervals: every row's columns, what they came from, and the report's bands
    assert prov["predictive_intervals"]["draws"] == 3 and prov["predictive_intervals"]["trial_size"] == 40
    assert "calibrated posterior" in prov["predictive_intervals"]["parameter_uncertainty"]
    header = (out / "endpoints.csv").read_text().splitlines()[0].split(",")
    assert header[-4:] == ["pi_low", "pi_high", "trial_pi_low", "trial_pi_high"]
    report = (out / "report.html").read_text()
    assert "90% PI (parameters)" in report
    # --compare: the published numbers beside the interval a trial of the published size would see
    assert "90% PI at that n" in report


@pytest.mark.parametrize("args, message", [
    (["--posterior-draws", "1"], "at least 2 draws"),
    (["--posterior-draws", "0", "--trial-size", "40"], "--trial-size needs --posterior-draws"),
])
def test_run_refuses_intervals_it_cannot_compute(tmp_path, args, message):
    res = CliRunner().invoke(app, ["run", "examples/ms_ahsct_vs_dmt.toml", "--out", str(tmp_path / "x"), *args])
    assert res.exit_code == 2 and message in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------
# listing commands: plain text when piped, rich tables on a terminal, --json
# --------------------------------------------------------------------------

BOX = set("┏┓┗┛━┃│─╭╮╰╯┡┩╇")
narrow = CliRunner(env={"COLUMNS": "40"})  # a narrow terminal width must not matter when piped


def _rows(output: str) -> list[list[str]]:
    """Tab-separated data lines of a piped listing (title lines start with '# ')."""
    return [line.split("\t") for line in output.splitlines() if line and not line.startswith("# ")]


def _listings():
    from remit.diseases import DISEASES

    return [["diseases"], ["therapies"], *(["diseases", d] for d in DISEASES.ids()), *(["model", "--disease", d] for d in DISEASES.ids())]


@pytest.mark.parametrize("args", _listings(), ids=" ".join)
def test_piped_listing_is_plain_tab_separated_text(args):
    res = narrow.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert not BOX & set(res.output), "box drawing in piped output"
    blocks = res.output.rstrip("\n").split("\n\n")  # (a last empty cell ends a line with a tab)
    for block in blocks:
        title, header, *rows = block.split("\n")
        assert title.startswith("# ") and rows, block[:200]
        width = len(header.split("\t"))
        assert width >= 3 and all(len(r.split("\t")) == width for r in rows), block[:200]


def test_piped_listings_keep_every_identifier_whole():
    from remit.diseases import DISEASES, get_disease
    from remit.diseases import build_model

    first = {r[0] for r in _rows(narrow.invoke(app, ["diseases"]).output)}
    assert set(DISEASES.ids()) <= first
    for d in DISEASES.ids():
        first = {r[0] for r in _rows(narrow.invoke(app, ["diseases", d]).output)}
        assert set(get_disease(d).population_model.model_fields) <= first
        assert set(get_disease(d).drugs) <= first
        first = {r[0] for r in _rows(narrow.invoke(app, ["model", "--disease", d]).output)}
        m = build_model(d)
        assert {s.name for s in m.states} | set(m.parameter_names) <= first


def test_diseases_listing_names_a_primary_endpoint_for_every_disease():
    """Rheumatoid arthritis declares no time-to-event endpoint: the listing shows ACR20, the endpoint the design
    studies analyse by default, instead of an empty cell."""
    rows = _rows(narrow.invoke(app, ["diseases"]).output)
    header, data = rows[0], {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert "primary endpoint" in header
    assert data["rheumatoid_arthritis"]["primary endpoint"] == "acr20 (proportion)"
    assert data["multiple_sclerosis"]["primary endpoint"] == "progression (survival)"
    assert all(r["primary endpoint"] not in ("", "-") for r in data.values())


def test_listing_json_has_the_documented_structure():
    from remit.calibration import shipped
    from remit.diseases import DISEASES, get_disease
    from remit.diseases import build_model

    doc = json.loads(narrow.invoke(app, ["diseases", "--json"]).output)
    assert doc["schema"] == "remit.diseases/1"
    assert [d["id"] for d in doc["diseases"]] == list(DISEASES.ids())
    for d in doc["diseases"]:
        assert set(d) == {"id", "label", "organ", "primary_endpoint", "conventional_drugs", "calibration"}
        disease = get_disease(d["id"])
        assert d["conventional_drugs"] == list(disease.drugs)
        assert set(d["primary_endpoint"]) == {"name", "kind", "label"}
        if disease.primary:
            assert d["primary_endpoint"]["name"] == disease.primary and d["primary_endpoint"]["kind"] == "survival"
        assert (d["calibration"] is None) == (shipped.load(d["id"]) is None)
        if d["calibration"] is not None:
            assert d["calibration"]["parameters"] == sorted(shipped.load(d["id"])["point"])
    for name in DISEASES.ids():
        one = json.loads(narrow.invoke(app, ["diseases", name, "--json"]).output)
        assert one["schema"] == "remit.disease/1" and one["id"] == name
        assert [f["field"] for f in one["population_fields"]] == list(get_disease(name).population_model.model_fields)
        assert all(set(f) == {"field", "type", "allowed", "default", "unit"} for f in one["population_fields"])
        assert [g["name"] for g in one["drugs"]] == list(get_disease(name).drugs)
        assert [e["name"] for e in one["endpoints"]] == [e.name for e in get_disease(name).endpoints]
        model = json.loads(narrow.invoke(app, ["model", "--disease", name, "--json"]).output)
        m = build_model(name)
        assert model["schema"] == "remit.model/1" and model["disease"] == name
        assert [s["name"] for s in model["states"]] == [s.name for s in m.states]
        assert [(p["name"], p["value"]) for p in model["parameters"]] == [(p.name, p.value) for p in m.parameters]
        assert model["calibration"] == one["calibration"]
    th = json.loads(narrow.invoke(app, ["therapies", "--json"]).output)
    assert th["schema"] == "remit.therapies/1"
    assert {t["therapy"] for t in th["tables"]} == {"ahsct", "mobilization_only", "msc", "conventional", "placebo",
                                                           "car_t"}
    assert all(set(t) == {"therapy", "table", "description", "fields"} and t["fields"] for t in th["tables"])


def test_listing_on_a_terminal_is_a_rich_table():
    """Through a pseudo-terminal: box-drawn tables, and the identifier column is never broken."""
    import os
    import pty

    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "LINES": "50"}
    proc = subprocess.Popen([sys.executable, "-m", "remit.cli", "diseases"], stdout=follower, stderr=subprocess.PIPE,
                            env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    out = b"".join(chunks).decode()
    assert BOX & set(out)
    for name in ("multiple_sclerosis", "rheumatoid_arthritis", "type1_diabetes"):
        assert name in out


def test_piped_listing_in_a_real_process():
    """stdout a pipe (not CliRunner's buffer): plain text."""
    out = subprocess.run([sys.executable, "-m", "remit.cli", "diseases"], capture_output=True, text=True, check=True).stdout
    assert not BOX & set(out) and "\nrheumatoid_arthritis\tRheumatoid arthritis\t" in out


# --------------------------------------------------------------------------
# one option name per concept
# --------------------------------------------------------------------------

SCENARIO = "examples/ms_ahsct_vs_dmt.toml"
POSITIONAL = {"run": [SCENARIO], "power": [SCENARIO], "sweep": [SCENARIO], "sensitivity": [SCENARIO],
              "predict": ["examples/patient_ms_young_active.toml"], "export-sbml": ["x.xml"]}
SHARED = {  # option -> (a value, the commands where the concept applies)
    "--patients-per-arm": ("20", ("run", "power", "sweep", "sensitivity", "validate", "calibrate")),
    "--out": ("results/x", ("run", "power", "sweep", "sensitivity", "validate", "calibrate", "docs")),
    "--seed": ("3", ("run", "power", "sensitivity", "calibrate", "predict")),
    "--workers": ("2", ("run", "power", "sweep", "sensitivity", "calibrate")),
    "--chunk-size": ("100", ("run", "power", "sweep", "sensitivity")),
    "--quiet": (None, ("run", "power", "sweep", "sensitivity", "validate")),
    "--disease": ("lupus", ("model", "export-sbml", "calibrate", "validate")),
    "--json": (None, ("diseases", "therapies", "model", "predict")),
}


@pytest.mark.parametrize("option", sorted(SHARED))
def test_shared_option_is_accepted_under_one_name(option):
    """Parsing stops at an unknown option before --help is honoured: exit 0 means the name is accepted."""
    value, commands = SHARED[option]
    for cmd in commands:
        args = [cmd, *POSITIONAL.get(cmd, []), option, *([value] if value else []), "--help"]
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, (args, res.output)
        assert "deprecated" not in res.output


def test_every_parameter_has_one_option_name_across_commands():
    """The same parameter is spelled the same way in every command, and one option name means one parameter."""
    import typer

    group = typer.main.get_command(app)
    by_param: dict[str, set] = {}
    by_option: dict[str, set] = {}
    for cmd in group.commands.values():
        for p in cmd.params:
            if p.param_type_name == "option":
                by_param.setdefault(p.name, set()).update(p.opts)
                for o in p.opts:
                    by_option.setdefault(o, set()).add(p.name)
    assert {k: v for k, v in by_param.items() if len(v) > 1} == {}
    assert {k: v for k, v in by_option.items() if len(v) > 1} == {}
    for option in SHARED:
        assert by_option[option] == {option.lstrip("-").replace("-", "_")} or option == "--json"
    from remit.cli_common import RENAMED

    assert not {old for names in RENAMED.values() for old in names} & set(by_option)  # old names are no options


def test_renamed_options_warn_once_and_still_work():
    from remit.cli_common import RENAMED

    for cmd, renamed in RENAMED.items():
        for old, new in renamed.items():
            res = CliRunner().invoke(app, [cmd, SCENARIO, old, "5", "--help"])
            assert res.exit_code == 0, res.output
            notes = [ln for ln in res.stderr.splitlines() if "deprecated" in ln]
            assert notes == [f"remit {cmd}: warning: {old} is deprecated, use {new}"]
            assert f"{old} is now {new}" in " ".join(res.stdout.split())  # --help lists the old name
    # the value reaches the renamed option: bad values are refused under the new name
    res = CliRunner().invoke(app, ["power", SCENARIO, "--per-arm", "20:10"])
    assert res.exit_code == 2 and "--patients-per-arm '20:10'" in res.stderr
    res = CliRunner().invoke(app, ["sensitivity", SCENARIO, "--patients=1"])
    assert res.exit_code == 2 and "--patients-per-arm" in res.stderr
    res = CliRunner().invoke(app, ["power", SCENARIO, "--year", "99", "--endpoint", "neda3"])
    assert res.exit_code == 2 and "--timepoint 99: outside the trial's whole years 1..5" in res.stderr
