"""The design-study commands (``remit power``, ``remit sweep``, ``remit sensitivity``; docs/design.md),
registered on the ``remit`` app by :mod:`remit.cli`. Heavy modules are imported inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from remit.cli_common import (chunk_size_option, fail, out_option, patients_per_arm_option, quiet_option, seed_option,
                               slug, workers_option)


def _design_spec(scenario: Path):
    from remit.errors import ScenarioError
    from remit.scenario import load_scenario

    try:
        return load_scenario(scenario)
    except ScenarioError as exc:
        fail(str(exc))


def _design_out(out: Optional[Path], spec, kind: str) -> Path:
    return out or Path("results") / f"{slug(spec.trial.name)}-{kind}"


def power(
    scenario: Path = typer.Argument(..., help="Scenario TOML file"),
    patients_per_arm: str = typer.Option("20:200:20", "--patients-per-arm",
                                         help="Patients per arm of the replicate trials: start:stop:step (stop included) or a list "
                                              "20,55,100"),
    replicates: int = typer.Option(1000, "--replicates", min=1, max=1_000_000, help="Replicate trials per sample size"),
    cohort: int = typer.Option(2000, "--cohort", min=2, max=10_000_000, help="Simulated patients per arm to resample from"),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="Catalog endpoint analysed (default: the primary endpoint "
                                                                    "that remit diseases lists)"),
    timepoint: Optional[int] = typer.Option(None, "--timepoint",
                                            help="Whole year at which a Proportion/Score endpoint is analysed (default: the last)"),
    arm: Optional[str] = typer.Option(None, "--arm", help="Treatment arm compared with the control (default: the first)"),
    posterior: Optional[Path] = typer.Option(None, "--posterior", help="JSON list of population parameter sets {parameter: typical value} (parameter uncertainty)"),
    seed: int = seed_option(0, "Seed of the replicate resampling (the simulation itself uses trial.seed)"),
    reference: Optional[int] = typer.Option(None, "--reference-n", help="Mark a sample size on the curve (e.g. a published trial's n per arm)"),
    out: Optional[Path] = out_option(None, "Output directory (default results/<trial>-power/)"),
    chunk_size: int = chunk_size_option(),
    workers: int = workers_option(),
    quiet: bool = quiet_option(),
) -> None:
    """Sample size and power: resample replicate trials from one large simulated cohort per arm.

    Writes power.csv, power.json and power.html. Exit status 2 on bad input.
    """
    import json
    import time

    from remit.design import DesignError
    from remit.design.power import parse_sizes, run_power
    from remit.design.report import power_html
    from remit.store import atomic_write_bytes, atomic_write_text
    from remit.trial import EnrolmentError

    spec = _design_spec(scenario)
    sets = None
    if posterior is not None:
        try:
            sets = json.loads(posterior.read_text())
        except (OSError, ValueError) as exc:
            fail(f"--posterior {posterior}: cannot read a JSON list of parameter sets ({exc})")
        if not (isinstance(sets, list) and sets and all(isinstance(s, dict) for s in sets)):
            fail(f"--posterior {posterior}: expected a non-empty JSON list of objects {{parameter: typical value}}")
    t0 = time.perf_counter()
    try:
        sizes = parse_sizes(patients_per_arm)
        if not quiet:
            typer.echo(f"remit: simulating {cohort} patients per arm, then {replicates} replicate trials at each of "
                       f"{len(sizes)} sizes", err=True)
        result = run_power(spec, sizes, replicates, cohort, endpoint, timepoint, arm, sets, seed, chunk_size, workers,
                           str(scenario))
    except DesignError as exc:
        fail(str(exc))
    except EnrolmentError as exc:
        fail(str(exc), 1)
    result.meta["total_s"] = round(time.perf_counter() - t0, 2)
    ref = None
    if reference is not None:
        row = result.table[result.table["n_per_arm"] == reference]
        ref = {"n_per_arm": reference, "label": f"n = {reference}"}
        if len(row):
            r = row.iloc[0]
            ref["text"] = f"At {reference} patients per arm the simulated power is {100 * r['power']:.1f}% " \
                          f"(95% CI {100 * r['ci_low']:.1f}-{100 * r['ci_high']:.1f}%)."
        result.meta["reference"] = ref
    d = _design_out(out, spec, "power")
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(d / "power.csv", result.table.to_csv(index=False, float_format="%.6g").encode())
    doc = {"meta": result.meta, "table": json.loads(result.table.to_json(orient="records"))}
    atomic_write_text(d / "power.json", json.dumps(doc, indent=2, default=str))
    atomic_write_text(d / "power.html", power_html(result, ref))
    from rich.console import Console
    from rich.table import Table

    m = result.meta
    t = Table(title=f"{spec.trial.name}: power of the {m['test']} ({m['endpoint']}, {m['arm']} vs {m['control_arm']}, alpha {m['alpha']:g})")
    for col in ("n per arm", "power", "95% CI", f"median {m['effect']}", "2.5-97.5%"):
        t.add_column(col, justify="right")
    for r in result.table.itertuples():
        t.add_row(str(r.n_per_arm), f"{100 * r.power:.1f}%", f"{100 * r.ci_low:.1f}-{100 * r.ci_high:.1f}%",
                  f"{r.effect_median:.3g}", f"{r.effect_p2_5:.3g} - {r.effect_p97_5:.3g}")
    c = Console()
    c.print(t)
    n80 = m["n_for_80pct"]
    c.print(f"whole simulated cohort: {m['effect']} {m['effect_in_whole_cohort']:.3g}; 80% power at "
            + (f"about {n80['interpolated_n']:.0f} per arm" if n80["grid_n"] else "no size on this grid"))
    sch = m.get("schoenfeld")
    if sch and sch.get("n_per_arm_for_80pct"):
        c.print(f"Schoenfeld formula at HR {sch['hazard_ratio']:.3g}, event fraction {sch['event_fraction']:.2f}: "
                f"{sch['events_for_80pct']:.0f} events, about {sch['n_per_arm_for_80pct']:.0f} per arm for 80% power")
    c.print(m["parameter_uncertainty"])
    c.print(f"[bold]wrote[/] {d}/ (power.html, power.csv, power.json) in {m['total_s']:.0f} s")


def sweep(
    scenario: Path = typer.Argument(..., help="Scenario TOML file"),
    vary: list[str] = typer.Option(..., "--vary", help="PATH=V1,V2,... e.g. arms.aHSCT.graft.source=bone_marrow,peripheral_blood (repeat for a grid)"),
    patients_per_arm: Optional[int] = patients_per_arm_option(
        None, "Patients per arm in every cell (default: the scenario's)", high=10_000_000),
    out: Optional[Path] = out_option(None, "Output directory (default results/<trial>-sweep/)"),
    chunk_size: int = chunk_size_option(),
    workers: int = workers_option(),
    benefit: Optional[list[str]] = typer.Option(None, "--benefit", help="Survival or Proportion endpoint shown as benefit (repeatable; default: the primary endpoint and the first Proportion endpoint)"),
    quiet: bool = quiet_option(),
) -> None:
    """Protocol sweep: every combination of the --vary values on the same virtual patients.

    Writes sweep.html, sweep_summary.csv, sweep_endpoints.csv and sweep.json. Exit status 2 on a bad path or value.
    """
    from remit.design import DesignError
    from remit.design.sweep import build_cells, parse_vary, run_sweep, write_sweep
    from remit.trial import EnrolmentError

    spec = _design_spec(scenario)
    try:
        varies = [parse_vary(v) for v in vary]
        build_cells(spec, varies, str(scenario), patients_per_arm)  # every cell validated before any simulation
        say = None if quiet else (lambda msg: typer.echo(f"remit: {msg}", err=True))
        result = run_sweep(spec, varies, patients_per_arm, chunk_size, workers, str(scenario), progress=say,
                           benefit=benefit)
    except DesignError as exc:
        fail(str(exc))
    except EnrolmentError as exc:
        fail(str(exc), 1)
    d = _design_out(out, spec, "sweep")
    write_sweep(result, d)
    from rich.console import Console
    from rich.table import Table

    from remit.design.report import _fmt_cell, _label
    from remit.design.common import summary_columns
    from remit.design.sweep import _show as _fmt_value
    from remit.diseases import get_disease

    disease = get_disease(spec.trial.disease)
    cols = [c for c, _, _, _ in summary_columns(disease, spec.trial.follow_up_years, benefit)]
    arms = result.varied_arms()
    t = Table(title=f"{spec.trial.name}: {result.meta['cells']} protocols, {result.meta['patients_per_arm']} patients per arm")
    t.add_column("protocol")
    t.add_column("arm")
    for col in cols:
        t.add_column(col, justify="right")
    for _, r in result.summary.iterrows():
        if r["arm"] not in arms and r["cell"] != 0:
            continue
        label = " / ".join(_fmt_value(v) for v in (r[v.path] for v in result.varies))
        t.add_row(label if r["arm"] in arms else "(all)", r["arm"], *[_fmt_cell(c, r[c]) for c in cols])
    c = Console(width=max(Console().width, 140))
    c.print("columns: " + "; ".join(f"{col} = {_label(col)}" for col in cols))
    c.print(t)
    c.print(f"common random numbers: {result.meta['common_random_numbers']}")
    for n in result.meta["notes"]:
        c.print(f"note: {n}")
    c.print(f"[bold]wrote[/] {d}/ (sweep.html, sweep_summary.csv, sweep_endpoints.csv, sweep.json) in "
            f"{result.meta['timings']['total_s']:.0f} s")


def sensitivity(
    scenario: Path = typer.Argument(..., help="Scenario TOML file"),
    parameters: Optional[str] = typer.Option(None, "--parameters", help="Comma-separated model parameters (default: all with a between-patient prior)"),
    all_varying: bool = typer.Option(False, "--all-varying", help="Every parameter with a between-patient prior (the default)"),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="Endpoint name of endpoints.csv (default: the primary endpoint "
                                                                    "that remit diseases lists, its _free row if a survival "
                                                                    "endpoint, at the last whole year)"),
    timepoint: Optional[float] = typer.Option(None, "--timepoint", help="Timepoint in years of the endpoint"),
    arm: Optional[str] = typer.Option(None, "--arm", help="Treatment arm (default: the first non-control arm)"),
    samples: int = typer.Option(16, "--samples", min=2, max=65536, help="Saltelli base samples N (power of 2); N x (parameters + 2) evaluations"),
    patients_per_arm: int = patients_per_arm_option(100, "Patients per arm of the cohort", low=2),
    range_source: str = typer.Option("prior", "--range", help="prior: +-2 prior sd; spec: the model's [low, high]"),
    seed: int = seed_option(0, "Seed of the Sobol sequence and bootstrap (the simulation itself uses trial.seed)"),
    out: Optional[Path] = out_option(None, "Output directory (default results/<trial>-sensitivity/)"),
    chunk_size: int = chunk_size_option(),
    workers: int = workers_option(),
    quiet: bool = quiet_option(),
) -> None:
    """Global sensitivity (Sobol indices, SALib) of an endpoint to population-level model parameters.

    Writes sensitivity.html, sobol.csv, samples.csv and sensitivity.json. Exit status 2 on bad input.
    """
    from remit.design import DesignError
    from remit.design.sensitivity import run_sensitivity, write_sensitivity
    from remit.trial import EnrolmentError

    spec = _design_spec(scenario)
    names = [p.strip() for p in parameters.split(",") if p.strip()] if parameters else None
    say = None if quiet else (lambda msg: typer.echo(f"remit: {msg}", err=True))
    try:
        result = run_sensitivity(spec, names, all_varying, endpoint, timepoint, arm, samples, patients_per_arm,
                                 range_source, seed, chunk_size, workers, str(scenario), progress=say)
    except DesignError as exc:
        fail(str(exc))
    except EnrolmentError as exc:
        fail(str(exc), 1)
    d = _design_out(out, spec, "sensitivity")
    write_sensitivity(result, d)
    from rich.console import Console
    from rich.table import Table

    m = result.meta
    t = Table(title=f"Sobol indices of the {m['statistic']} (N={m['samples']}, {m['evaluations']} evaluations)")
    for col in ("parameter", "S1", "ST", "typical value range"):
        t.add_column(col, justify="right" if col != "parameter" else "left")
    for r in result.indices.itertuples():
        t.add_row(r.parameter, f"{r.S1:.3f} ± {r.S1_conf:.3f}", f"{r.ST:.3f} ± {r.ST_conf:.3f}",
                  f"{r.typical_low:.3g} - {r.typical_high:.3g}")
    c = Console()
    c.print(t)
    c.print(f"depends most on: {', '.join(m['most_influential'])}")
    c.print(f"[bold]wrote[/] {d}/ (sensitivity.html, sobol.csv, samples.csv, sensitivity.json) in {m['timings']['total_s']:.0f} s")
