"""The ``remit`` command line (typer + rich). Heavy modules are imported inside commands
so that ``remit --help`` starts fast."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="In-silico clinical trials of stem cell therapy for autoimmune disease.")


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"remit: error: {message}", err=True)
    raise typer.Exit(code)


@app.callback()
def main() -> None:
    """remit: simulate virtual patients under aHSCT and conventional therapy, and report the trial."""


@app.command()
def run(
    scenario: Path = typer.Argument(..., help="Scenario TOML file"),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory (default results/<trial name>/)"),
    chunk_size: int = typer.Option(1000, "--chunk-size", min=1, max=1_000_000, help="Patients per integration chunk"),
    patients_per_arm: Optional[int] = typer.Option(None, "--patients-per-arm", help="Override trial.patients_per_arm"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Override trial.seed"),
    compare: Optional[str] = typer.Option(None, "--compare", help="Evidence id of a published trial to print beside the endpoints (e.g. ms-mist-2019)"),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars"),
    workers: int = typer.Option(1, "--workers", min=1, max=1024, help="Dask LocalCluster worker processes (1: run in this process)"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of an existing Dask scheduler, e.g. tcp://host:8786"),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed run in --out, skipping its finished chunks"),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing run directory"),
) -> None:
    """Run an in-silico trial: virtual population, simulation, endpoints, report."""
    from remit.errors import ScenarioError
    from remit.scenario import load_scenario

    try:
        spec = load_scenario(scenario)
        if patients_per_arm is not None or seed is not None:
            spec = spec.with_overrides(patients_per_arm=patients_per_arm, seed=seed)
    except ScenarioError as exc:
        _fail(str(exc))
    from rich.console import Console

    from remit.trial import EnrolmentError, Trial

    console = Console(stderr=True)
    out_dir = out or Path("results") / _slug(spec.trial.name)
    trial = Trial(spec, str(scenario))
    published = None
    if compare:
        from remit.evidence import EvidenceError, load_published

        try:
            published = load_published(compare)
        except EvidenceError as exc:
            _fail(str(exc))
    if resume and force:
        _fail("--resume and --force exclude each other")
    from remit.rundir import RunDirectoryError

    try:
        result = trial.run(out=out_dir, chunk_size=chunk_size, progress=not quiet, workers=workers, scheduler=scheduler,
                           resume=resume, force=force, write=False)
    except RunDirectoryError as exc:
        _fail(str(exc))
    except EnrolmentError as exc:
        _fail(str(exc), 1)
    if published is not None:
        from remit.evidence import compare_endpoints

        result.published = compare_endpoints(published, result.endpoints, spec)
    from remit.trial import write_outputs

    write_outputs(result, out_dir)
    _print_summary(console, result)
    console.print(f"[bold]wrote[/] {out_dir}/ (report.html, patients.parquet, endpoints.csv, provenance.json)")
    failures = result.provenance["solver_failures"]
    if failures:
        console.print(f"[yellow]warning:[/] {failures} patients had solver failures (see patients.parquet solver_message)")


def _slug(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "trial"


def _print_summary(console, result) -> None:
    from rich.table import Table

    from remit.clinical.base import Proportion, Rate, Score, Survival

    ep = result.endpoints
    keep = ["treatment_related_mortality", "all_cause_mortality", "engraftment_day_median"]
    for e in result.disease.endpoints:
        if isinstance(e, Survival):
            keep += [f"{e.name}_hazard_ratio", f"{e.name}_free"]
        elif isinstance(e, Rate):
            keep += [f"annualized_{e.name}_rate", f"{e.name}_rate_ratio"]
        elif isinstance(e, Score):
            keep += [f"mean_{e.name}", f"{e.name}_change"]
        elif isinstance(e, Proportion):
            keep.append(e.name)
    last = ep.groupby("endpoint")["timepoint_years"].transform("max")
    ep = ep[ep["endpoint"].isin(keep) & ((ep["timepoint_years"] == last) | (ep["timepoint_years"] <= 1.0 + 1e-9))]
    ep = ep.assign(order=ep["endpoint"].map({k: i for i, k in enumerate(keep)})).sort_values(["order", "arm", "timepoint_years"], kind="stable")
    table = Table(title=f"{result.spec.trial.name}: endpoints", show_lines=False)
    for col in ("arm", "endpoint", "t (y)", "estimate", "95% CI", "n"):
        table.add_column(col)
    for _, r in ep.iterrows():
        table.add_row(str(r["arm"]), r["endpoint"], f"{r['timepoint_years']:.2f}", f"{r['estimate']:.3g}",
                      f"{r['ci_low']:.3g} - {r['ci_high']:.3g}", f"{int(r['n'])}")
    console.print(table)
    pub = result.published
    if pub is not None and len(pub):
        t2 = Table(title="Published vs simulated")
        for col in ("endpoint", "arm", "t (y)", "published", "simulated", "source"):
            t2.add_column(col)
        for _, r in pub.iterrows():
            pci = "" if r["published_ci_low"] != r["published_ci_low"] else f" ({r['published_ci_low']:.3g}-{r['published_ci_high']:.3g})"
            sci = "" if r["sim_ci_low"] != r["sim_ci_low"] else f" ({r['sim_ci_low']:.3g}-{r['sim_ci_high']:.3g})"
            t2.add_row(r["endpoint"], str(r["arm"]), f"{r['timepoint_years']:.2f}", f"{r['published']:.3g}{pci}",
                       f"{r['simulated']:.3g}{sci}", str(r["source"]))
        console.print(t2)


@app.command("model")
def model_info(disease: str = typer.Option("multiple_sclerosis", "--disease")) -> None:
    """List the model's states and parameters with units, ranges and sources."""
    from rich.console import Console
    from rich.table import Table

    from remit.model import build_model

    try:
        m = build_model(disease)
    except ValueError as exc:
        _fail(str(exc))
    c = Console()
    t = Table(title=f"{m.name}: {len(m.states)} states")
    for col in ("state", "unit", "description"):
        t.add_column(col)
    for s in m.states:
        t.add_row(s.name, s.unit, s.description)
    c.print(t)
    t = Table(title=f"{len(m.parameters)} parameters")
    for col in ("parameter", "value", "unit", "range", "prior", "source"):
        t.add_column(col)
    for p in m.parameters:
        t.add_row(p.name, f"{p.value:.4g}", p.unit, f"{p.low:.3g} - {p.high:.3g}", p.prior + (f" ({p.cv})" if p.cv else ""), p.source)
    c.print(t)


if __name__ == "__main__":  # pragma: no cover
    app()
