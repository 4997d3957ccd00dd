"""Numerical guardrails and file safety (issue 7, items 3 and 5).

- a patient whose solve fails (solver error, non-finite or negative states) is retried with
  safer settings; one that still fails is kept, with its reason, counted in ``n``, shown in the
  report, and a run with too many of them exits with status 3 after writing its outputs;
- output files are written atomically: a write error leaves no half-written file, and the
  command says so in one line;
- an existing run directory is never overwritten without --force or --resume;
- scenarios hold no paths: ``--out`` (given by the user) is the only one, and the default
  output directory derived from the trial name stays inside ``results/``.
"""

from __future__ import annotations

import json
import os
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import remit.population
import remit.trial
from remit.cli import app
from remit.engine.integrate import (
    MAX_FAILURE_FRACTION,
    NEGATIVE_STATE,
    NOT_FINITE,
    STATUS_TEXT,
    SolverOptions,
    check_states,
    simulate,
)
from remit.diseases import build_model, get_disease
from remit.scenario import DISEASES, load_scenario, spec_class
from remit.therapies import arm_plan

EXAMPLE = Path("examples/ms_ahsct_vs_dmt.toml")
# absurd memory T-cell proliferation (1000 per day): the state overflows within days, with any solver
EXPLODING = ("p_mem", 1.0e3)


@pytest.fixture
def small_pilot(monkeypatch):
    """Enrolment screens 100 candidates per pilot block instead of 2000 (cheap tests)."""
    monkeypatch.setattr(remit.trial, "PILOT", 100)
    monkeypatch.setattr(remit.population, "PILOT", 100)


def _cohort(n: int = 4):
    spec = load_scenario(EXAMPLE)
    model = build_model(spec.trial.disease)
    _, P, y0 = remit.population.draw_candidates(model, spec, np.arange(n))
    return spec, model, P, y0


# ---------------------------------------------------------------- engine level


def test_failed_solve_is_retried_with_safer_settings_and_recovers():
    spec, model, P, y0 = _cohort()
    plan = arm_plan(model, spec.arms[0], get_disease(spec.trial.disease).drugs)
    grid = remit.trial.output_grid(365.25)
    good = simulate(model, y0, P, plan.schedule, grid)
    assert (good.status == 0).all() and not good.retried.any()
    starved = simulate(model, y0, P, plan.schedule, grid, SolverOptions(max_steps=5))  # every first attempt fails
    assert (starved.first_status == 1).all() and starved.retried.all()
    assert (starved.status == 0).all()
    np.testing.assert_allclose(starved.y, good.y, rtol=1e-3, atol=1e-3)
    no_retry = simulate(model, y0, P, plan.schedule, grid, SolverOptions(max_steps=5), retry=False)
    assert (no_retry.status == 1).all() and not no_retry.retried.any()


def test_exploding_patient_fails_alone_with_a_reason():
    spec, model, P, y0 = _cohort()
    plan = arm_plan(model, spec.arms[0], get_disease(spec.trial.disease).drugs)
    grid = remit.trial.output_grid(365.25)
    bad = P.copy()
    bad[1, model.parameter_index(EXPLODING[0])] = EXPLODING[1]
    tr = simulate(model, y0, bad, plan.schedule, grid)
    assert tr.status.tolist() == [0, NOT_FINITE, 0, 0] and tr.retried.tolist() == [False, True, False, False]
    assert not np.isfinite(tr.y[1]).all()  # outputs after the failure are NaN, never stale memory
    ref = simulate(model, y0, P, plan.schedule, grid)
    np.testing.assert_array_equal(tr.y[[0, 2, 3]], ref.y[[0, 2, 3]])  # the others are untouched


def test_state_checks_flag_non_finite_and_negative_states():
    model = build_model("multiple_sclerosis")
    s = len(model.states)
    out = np.ones((5, 3, s))
    out[1, 2, 0] = np.nan
    out[2, 1, 3] = -np.inf
    out[3, 0, 5] = -1e-3  # a cell population below zero
    out[4, 0, 5] = -1e-12  # round-off: accepted
    status = check_states(model, out, np.array([0, 0, 0, 0, 0]))
    assert status.tolist() == [0, NOT_FINITE, NOT_FINITE, NEGATIVE_STATE, 0]
    assert check_states(model, out, np.array([2, 1, 0, 0, 0]))[:2].tolist() == [2, 1]  # solver status kept
    assert "negative" in STATUS_TEXT[NEGATIVE_STATE]


# ---------------------------------------------------------------- end to end


def _inject_explosion(monkeypatch, rows=(0,)):
    """Break the first patient of every trial chunk (not the screening) with an absurd parameter."""
    real = remit.trial.simulate

    def broken(model, y0, params, *args, **kw):
        params = np.array(params, dtype=float, copy=True)
        for r in rows:
            if r < len(params):
                params[r, model.parameter_index(EXPLODING[0])] = EXPLODING[1]
        return real(model, y0, params, *args, **kw)

    monkeypatch.setattr(remit.trial, "simulate", broken)


def test_failures_are_kept_counted_reported_and_fail_the_run(tmp_path, monkeypatch, small_pilot):
    _inject_explosion(monkeypatch)
    out = tmp_path / "run"
    args = ["run", str(EXAMPLE), "--patients-per-arm", "4", "--seed", "3", "--out", str(out), "--quiet",
            "--posterior-draws", "0"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 3, res.output
    assert "Traceback" not in res.output
    last = res.output.strip().splitlines()[-1]
    assert last.startswith("remit: error: 2 of 8 patients") and "--max-failure-fraction 0.01" in last, last
    assert "non-finite state: 2" in last and str(out) in last
    # the outputs were written, with the failed patients in them
    pats = pd.read_parquet(out / "patients.parquet")
    assert len(pats) == 8
    failed = pats[pats["solver_status"] != 0]
    assert len(failed) == 2 and (failed["solver_status"] == NOT_FINITE).all()
    assert failed["solver_retried"].all() and not pats.loc[pats["solver_status"] == 0, "solver_retried"].any()
    assert failed["solver_message"].str.contains("non-finite state").all()
    assert failed["solver_message"].str.contains("still failing when retried with rodas3").all()
    # identity and baseline kept, outcomes missing
    assert failed["age"].notna().all() and failed["edss_baseline"].notna().all()
    outcomes = pd.read_parquet(out / "outcomes.parquet")
    lost = outcomes[outcomes["patient_id"].isin(failed["patient_id"])]
    assert failed["follow_up_years"].isna().all() and lost.loc[lost["t_years"] > 0, "value"].isna().all()
    assert lost.loc[lost["t_years"] == 0, "value"].notna().any()  # baseline scores kept
    assert not failed["died"].any()
    visits = pd.read_parquet(out / "visits.parquet")
    later = visits[visits["patient_id"].isin(failed["patient_id"]) & (visits["t_years"] > 0)]
    assert len(later) and later["edss"].isna().all()
    # counted in each arm's n
    ep = pd.read_csv(out / "endpoints.csv")
    mort = ep[ep["endpoint"] == "all_cause_mortality"]
    assert (mort["n"] == 4).all(), mort
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["solver_failures"] == 2 and prov["solver_retried"] == 2
    assert prov["solver_failure_reasons"] == {STATUS_TEXT[NOT_FINITE]: 2}
    assert prov["solver_retry"]["method"] == "rodas3"
    html = (out / "report.html").read_text()
    assert "Solver failures" in html and "non-finite state" in html
    # a looser threshold accepts the same run
    res = CliRunner().invoke(app, [*args, "--force", "--max-failure-fraction", "0.5"])
    assert res.exit_code == 0, res.output
    assert "warning:" in res.output and "2 patients had solver failures" in res.output


def test_default_failure_threshold_is_one_percent():
    assert MAX_FAILURE_FRACTION == 0.01
    res = CliRunner().invoke(app, ["run", str(EXAMPLE), "--max-failure-fraction", "1.5"])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_retried_patients_that_recover_are_flagged_only(tmp_path, monkeypatch, small_pilot):
    spec = load_scenario(EXAMPLE).with_overrides(patients_per_arm=2, seed=4)
    real = remit.trial.simulate
    # starve only the trial's integration of steps, so that every first attempt fails
    monkeypatch.setattr(remit.trial, "simulate", lambda m, y, p, s, t, o=SolverOptions(), **kw: real(
        m, y, p, s, t, SolverOptions(max_steps=5), **kw))
    res = remit.trial.Trial(spec).run()
    p = res.patients
    assert (p["solver_status"] == 0).all() and p["solver_retried"].all()
    assert p["solver_message"].str.startswith("ok after retry (first attempt: maximum number of steps").all()
    assert res.provenance["solver_failures"] == 0 and res.provenance["solver_retried"] == 4


# ---------------------------------------------------------------- files


def _disk_full_on(monkeypatch, target_name: str, where: str = "replace"):
    """Make the atomic write of ``target_name`` fail like a full disk (after a partial write)."""
    import pyarrow.parquet as pq

    import remit.store

    if where == "replace":
        real_replace = os.replace

        def replace(src, dst, *a, **kw):
            if Path(dst).name == target_name:
                raise OSError(28, "No space left on device", str(dst))
            return real_replace(src, dst, *a, **kw)

        monkeypatch.setattr(remit.store.os, "replace", replace)
    else:
        real_write = pq.write_table

        def write_table(table, where_, *a, **kw):
            if Path(where_).name.startswith(f".{target_name}."):
                Path(where_).write_bytes(b"PAR1 half a file")
                raise OSError(28, "No space left on device", str(where_))
            return real_write(table, where_, *a, **kw)

        monkeypatch.setattr(pq, "write_table", write_table)


@pytest.mark.parametrize("target,where", [("patients.parquet", "write"), ("report.html", "replace")])
def test_write_error_leaves_no_half_written_file(tmp_path, monkeypatch, small_pilot, target, where):
    out = tmp_path / "run"
    args = ["run", str(EXAMPLE), "--patients-per-arm", "3", "--seed", "8", "--out", str(out), "--quiet",
            "--posterior-draws", "0"]
    with monkeypatch.context() as m:
        _disk_full_on(m, target, where)
        res = CliRunner().invoke(app, args)
    assert res.exit_code == 1, res.output
    msg = res.output.strip()
    assert len(msg.splitlines()) == 1 and "Traceback" not in msg, msg
    assert msg.startswith(f"remit: error: cannot write the results to {out}: No space left on device"), msg
    assert not (out / target).exists()
    assert not list(out.glob(".*.tmp")), list(out.iterdir())  # no temporary leftovers
    if target == "patients.parquet":
        assert not (out / "report.html").exists()
    # nothing was lost: the finished chunks let --resume complete the run
    res = CliRunner().invoke(app, [*args, "--resume"])
    assert res.exit_code == 0, res.output
    assert len(pd.read_parquet(out / "patients.parquet")) == 6 and (out / "report.html").exists()


def test_failed_replace_keeps_the_previous_file(tmp_path, monkeypatch):
    from remit.store import atomic_write_text

    path = tmp_path / "endpoints.csv"
    atomic_write_text(path, "old,complete\n")
    _disk_full_on(monkeypatch, "endpoints.csv")
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(path, "new\n" * 1000)
    assert path.read_text() == "old,complete\n"
    assert [p.name for p in tmp_path.iterdir()] == ["endpoints.csv"]


def _run_dir_args(out: Path, *extra: str) -> list[str]:
    return ["run", str(EXAMPLE), "--patients-per-arm", "3", "--out", str(out), "--quiet", "--posterior-draws", "0", *extra]


def test_existing_run_directory_is_not_overwritten(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    (out / "report.html").write_text("precious")
    res = CliRunner().invoke(app, _run_dir_args(out))
    assert res.exit_code == 2, res.output
    msg = res.output.strip()
    assert len(msg.splitlines()) == 1 and "Traceback" not in msg
    assert f"{out}: already exists and is not empty" in msg and "--resume" in msg and "--force" in msg
    assert (out / "report.html").read_text() == "precious" and sorted(os.listdir(out)) == ["report.html"]


def test_resume_needs_a_run_directory_of_the_same_scenario(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    res = CliRunner().invoke(app, _run_dir_args(out, "--resume"))
    assert res.exit_code == 2 and "cannot resume, no readable manifest.json" in res.output, res.output
    (out / "manifest.json").write_text(json.dumps({"digest": "0" * 16, "chunk_size": 7}))
    res = CliRunner().invoke(app, _run_dir_args(out, "--resume"))
    assert res.exit_code == 2 and "different scenario, chunk size or solver backend" in res.output, res.output
    assert (out / "notes.txt").read_text() == "mine"


def test_resume_and_force_exclude_each_other_and_out_must_be_a_directory(tmp_path):
    res = CliRunner().invoke(app, _run_dir_args(tmp_path / "x", "--resume", "--force"))
    assert res.exit_code == 2 and "--resume and --force exclude each other" in res.output
    f = tmp_path / "file"
    f.write_text("not a directory")
    res = CliRunner().invoke(app, _run_dir_args(f))
    assert res.exit_code == 2 and "exists and is not a directory" in res.output, res.output
    assert f.read_text() == "not a directory"


def _annotations(model, seen=None):
    """Every field annotation of a pydantic model and of the models nested in it."""
    from pydantic import BaseModel

    seen = set() if seen is None else seen
    if model in seen:
        return
    seen.add(model)
    for field in model.model_fields.values():
        yield field.annotation
        stack = [field.annotation]
        while stack:
            a = stack.pop()
            stack.extend(typing.get_args(a))
            if isinstance(a, type) and issubclass(a, BaseModel):
                yield from _annotations(a, seen)


@pytest.mark.parametrize("disease", DISEASES.ids())
def test_scenarios_have_no_path_fields(disease):
    """No scenario field is a path, so a scenario cannot name a file outside the working directory."""
    for a in _annotations(spec_class(disease)):
        for part in [a, *typing.get_args(a)]:
            assert not (isinstance(part, type) and issubclass(part, os.PathLike)), (disease, a)
        assert "path" not in repr(a).lower(), (disease, a)


@pytest.mark.parametrize("name", ["..", "../..", "../../etc", "/tmp/evil", "a/../../b", "."])
def test_default_output_directory_stays_inside_results(tmp_path, monkeypatch, name):
    """Without --out the run directory is results/<slug of trial.name>: one component, never '..'."""
    text = EXAMPLE.read_text().replace('name = "MIST-like', f'name = "{name}" #', 1)
    monkeypatch.chdir(tmp_path)
    Path("s.toml").write_text(text)
    assert load_scenario("s.toml").trial.name == name
    # make every possible target non-empty, so the command stops before simulating and names it
    for d in ("results", "results/trial", "results/etc", "results/tmp_evil", "results/a_.._.._b", "results/.._.._etc",
              "results/.._..", "results/.._etc"):
        Path(d).mkdir(parents=True, exist_ok=True)
        Path(d, "keep").write_text("x")
    (tmp_path / "keep").write_text("x")
    res = CliRunner().invoke(app, ["run", "s.toml", "--patients-per-arm", "3", "--quiet"])
    assert res.exit_code == 2, res.output
    target = Path(res.output.split("remit: error: ", 1)[1].split(": already exists", 1)[0])
    assert target.parent == Path("results") and target.name not in ("", ".", ".."), target
    assert (tmp_path / target).resolve().is_relative_to((tmp_path / "results").resolve())
