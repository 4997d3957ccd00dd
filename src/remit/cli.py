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


@app.command("diseases")
def diseases(name: Optional[str] = typer.Argument(None, help="A disease, to list its population fields, drugs and endpoints")) -> None:
    """List the diseases remit simulates (or one disease in detail)."""
    from rich.console import Console
    from rich.table import Table

    from remit.clinical import MODULES, get_disease
    from remit.docgen import describe_population, endpoint_names

    c = Console()
    if name is None:
        t = Table(title="Diseases (trial.disease)")
        for col in ("disease", "label", "organ", "primary endpoint", "conventional drugs"):
            t.add_column(col, overflow="fold")
        for d in map(get_disease, MODULES):
            t.add_row(d.name, d.label, d.organ, d.primary, ", ".join(d.drugs))
        c.print(t)
        c.print("details: remit diseases <disease>; arms: remit therapies")
        return
    if name not in MODULES:
        _fail(f"unknown disease {name!r} (known: {', '.join(MODULES)})")
    d = get_disease(name)
    t = Table(title=f"{d.label}: [population] fields")
    for col in ("field", "type", "allowed", "default", "unit"):
        t.add_column(col, overflow="fold")
    for r in describe_population(name):
        t.add_row(r["field"], r["type"], r["allowed"], r["default"], r["unit"])
    c.print(t)
    t = Table(title="Conventional drugs")
    for col in ("drug", "efficacy while given", "half-life (d)", "max years", "source"):
        t.add_column(col, overflow="fold")
    for g in d.drugs.values():
        t.add_row(g.name, f"{g.efficacy:.2f}", f"{g.half_life_days:g}", "-" if g.max_years is None else f"{g.max_years:g}", g.source)
    c.print(t)
    t = Table(title="Endpoints")
    for col in ("rows in endpoints.csv", "label", "definition"):
        t.add_column(col, overflow="fold")
    for e in d.endpoints:
        t.add_row(", ".join(endpoint_names(e)), e.label, e.definition)
    c.print(t)


@app.command("therapies")
def therapies() -> None:
    """List the arm types (therapy = ...) with their fields, units and allowed values."""
    from rich.console import Console
    from rich.table import Table

    from remit.docgen import ARM_TYPES, REGIMEN_TYPES, _doc, _nested, describe_field

    c = Console()
    seen: set = set()
    for arm in ARM_TYPES:
        models = [arm, *[m for m in _nested(arm, seen) if m not in REGIMEN_TYPES]]
        if arm is ARM_TYPES[0]:
            models += list(REGIMEN_TYPES)
        for m in models:
            title = f"therapy = {arm.model_fields['therapy'].default!r}" if m is arm else f"  {m.__name__}"
            t = Table(title=f"{title}: {_doc(m)}", title_justify="left")
            for col in ("field", "type", "allowed", "default", "unit"):
                t.add_column(col, overflow="fold")
            for n, f in m.model_fields.items():
                r = describe_field(n, f)
                t.add_row(n, r["type"], r["allowed"], r["default"], r["unit"])
            c.print(t)
    c.print("conventional drugs depend on the disease: remit diseases <disease>")


@app.command("docs")
def docs(out: Path = typer.Option(Path("docs"), "--out", help="Folder of the reference pages")) -> None:
    """Regenerate docs/scenario.md, docs/model.md and the per-disease block of docs/endpoints.md from the code."""
    from remit.docgen import write_pages

    out.mkdir(parents=True, exist_ok=True)
    written = write_pages(out)
    typer.echo("\n".join(f"wrote {p}" for p in written) or "docs are up to date")

