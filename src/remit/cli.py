"""The ``remit`` command line (typer + rich). Heavy modules are imported inside commands
so that ``remit --help`` starts fast."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from remit import cli_design
from remit.cli_common import (Listing, RenamedOptions, check_disease, chunk_size_option, disease_option, fail as _fail,
                               force_option, json_option, out_option, patients_per_arm_option, posterior_draws_option,
                               quiet_option, resume_option, seed_option, show, slug as _slug, trial_size_option,
                               workers_option)

app = typer.Typer(add_completion=False, no_args_is_help=True, help="In-silico clinical trials of stem cell therapy for autoimmune disease.")


@app.callback()
def main() -> None:
    """remit: simulate virtual patients under aHSCT and conventional therapy, and report the trial."""


@app.command()
def run(
    scenario: Path = typer.Argument(..., help="Scenario TOML file"),
    out: Optional[Path] = out_option(None, "Output directory (default results/<trial name>/)"),
    chunk_size: int = chunk_size_option(),
    patients_per_arm: Optional[int] = patients_per_arm_option(None, "Override trial.patients_per_arm", None, None),
    seed: Optional[int] = seed_option(None, "Override trial.seed (the seed of every random draw of the run)", None),
    compare: Optional[str] = typer.Option(None, "--compare", help="Evidence id of a published trial to print beside the endpoints (e.g. ms-mist-2019)"),
    posterior_draws: int = posterior_draws_option(),
    trial_size: Optional[int] = trial_size_option(),
    quiet: bool = quiet_option(),
    workers: int = workers_option(),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of an existing Dask scheduler, e.g. tcp://host:8786"),
    resume: bool = resume_option("Continue a killed run in --out, skipping its finished chunks"),
    force: bool = force_option("Overwrite an existing run directory"),
    backend: str = typer.Option("numba", "--backend",
                                help="ODE backend: numba (compiled kernel, fastest on CPUs) or jax (same method, "
                                     "for accelerators; needs pip install 'remit[jax]')"),
    max_failure_fraction: Optional[float] = typer.Option(
        None, "--max-failure-fraction", min=0.0, max=1.0,
        help="Exit with status 3 (after writing the outputs) if more than this fraction of patients still fail "
             "the ODE solve after the retry (default 0.01: remit.engine.integrate.MAX_FAILURE_FRACTION)"),
) -> None:
    """Run an in-silico trial: virtual population, simulation, endpoints, report.

    Exit status: 0 done; 1 enrolment impossible or outputs not writable; 2 bad input (scenario, options, run directory);
    3 outputs written but too many patients failed the solve (--max-failure-fraction).
    """
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

    def _os_error(exc: OSError) -> str:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return " ".join(f"{exc.strerror or exc}{where}".split())

    console = Console(stderr=True)
    out_dir = out or Path("results") / _slug(spec.trial.name)
    from remit.engine.integrate import BACKENDS, SolverOptions

    if backend not in BACKENDS:
        _fail(f"--backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "jax":
        from remit.engine.jax_backend import JaxUnavailable, require_jax

        try:
            require_jax()
        except JaxUnavailable as exc:
            _fail(f"--backend jax: {exc}")
    trial = Trial(spec, str(scenario), solver=SolverOptions(backend=backend))
    published = None
    if compare:
        from remit.evidence import EvidenceError, load_published

        try:
            published = load_published(compare)
        except EvidenceError as exc:
            _fail(str(exc))
    if resume and force:
        _fail("--resume and --force exclude each other")
    if trial_size is not None and not posterior_draws:
        _fail("--trial-size needs --posterior-draws of at least 2 (the interval is built from the draws)")
    from remit.rundir import RunDirectoryError

    try:
        result = trial.run(out=out_dir, chunk_size=chunk_size, progress=not quiet, workers=workers, scheduler=scheduler,
                           resume=resume, force=force, write=False, posterior_draws=posterior_draws,
                           trial_size=trial_size)
    except RunDirectoryError as exc:
        _fail(str(exc))
    except EnrolmentError as exc:
        _fail(str(exc), 1)
    except OSError as exc:  # e.g. a full disk while writing a chunk; finished chunks stay for --resume
        _fail(f"cannot write the run directory {out_dir}: {_os_error(exc)}; finished chunks are kept (use --resume)", 1)
    if published is not None:
        from remit.evidence import compare_endpoints

        result.published = compare_endpoints(published, result.all_endpoints, spec, result.predictive)
    from remit.trial import write_outputs

    try:
        write_outputs(result, out_dir)
    except OSError as exc:  # every file is written atomically: none is left half-written
        _fail(f"cannot write the results to {out_dir}: {_os_error(exc)}; no output file was left half-written, "
              "finished chunks are kept (use --resume)", 1)
    _print_summary(console, result)
    screened = result.provenance.get("enrolment", {}).get("candidates_screened")
    if screened:  # enrolment cost grows with how far the requested population is from the model's candidates
        n = int(result.provenance["patients"])
        console.print(f"[dim]enrolled {n} patients from {screened} candidates screened ({screened / max(n, 1):.1f} per patient)[/]")
    sub = ", subgroups.csv" if result.subgroups is not None else ""
    console.print(f"[bold]wrote[/] {out_dir}/ (report.html, patients.parquet, outcomes.parquet, endpoints.csv{sub}, "
                  "provenance.json)")
    failures = result.provenance["solver_failures"]
    if failures:
        console.print(f"[yellow]warning:[/] {failures} patients had solver failures (see patients.parquet solver_message)")
    from remit.engine.integrate import MAX_FAILURE_FRACTION

    limit = MAX_FAILURE_FRACTION if max_failure_fraction is None else max_failure_fraction
    n_patients = max(int(result.provenance["patients"]), 1)
    if failures / n_patients > limit:
        reasons = ", ".join(f"{k}: {v}" for k, v in result.provenance.get("solver_failure_reasons", {}).items())
        _fail(f"{failures} of {n_patients} patients ({100 * failures / n_patients:.2g}%) failed the ODE solve after "
              f"the retry, more than --max-failure-fraction {limit:g} ({reasons}); outputs written to {out_dir}/, "
              "see solver_message in patients.parquet", 3)


def _print_summary(console, result) -> None:
    from rich.table import Table

    ep = result.endpoints
    keep = ["treatment_related_mortality", "all_cause_mortality", "engraftment_day_median"]
    for e in result.disease.endpoints:
        keep += e.headline()
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
def model_info(disease: str = disease_option(...), as_json: bool = json_option("remit.model/1")) -> None:
    """List the model's states and parameters with units, ranges and sources."""
    from remit.diseases import build_model

    m = build_model(check_disease(disease))
    states = [{"name": s.name, "unit": s.unit, "description": s.description} for s in m.states]
    params = [{"name": p.name, "value": p.value, "unit": p.unit, "low": p.low, "high": p.high, "prior": p.prior,
               "cv": p.cv, "source": p.source} for p in m.parameters]
    doc = {"schema": "remit.model/1", "disease": disease, "model": m.name, "calibration": _calibration(disease),
           "states": states, "parameters": params}
    show([Listing(f"{m.name}: {len(states)} states", [("state", "name"), ("unit", "unit"), ("description", "description")],
                  states),
          Listing(f"{len(params)} parameters", [
              ("parameter", "name"), ("value", lambda p: f"{p['value']:.4g}"), ("unit", "unit"),
              ("range", lambda p: f"{p['low']:.3g} - {p['high']:.3g}"),
              ("prior", lambda p: p["prior"] + (f" ({p['cv']})" if p["cv"] else "")), ("source", "source")], params)],
         doc, as_json)


def _calibration(disease: str) -> dict | None:
    """The calibration ``disease`` ships, as listed (None: none; its model uses the literature values)."""
    from remit.calibration import shipped

    doc = shipped.load(disease)
    if doc is None:
        return None
    return {"parameters": sorted(doc["point"]), "trials": shipped.fitted_trials(doc).split(", "),
            "finished": doc["provenance"]["finished"][:10]}


@app.command("export-sbml")
def export_sbml(
    file: Path = typer.Argument(..., help="Output SBML file ('-' for standard output)"),
    disease: Optional[str] = disease_option(None, "Disease model (default: the --scenario's disease)"),
    scenario: Optional[Path] = typer.Option(None, "--scenario", help="Scenario TOML whose --arm protocol is exported as SBML events"),
    arm: Optional[str] = typer.Option(None, "--arm", help="Arm of --scenario whose protocol events to include"),
) -> None:
    """Write the model (and optionally one arm's protocol events) as SBML Level 3 Version 2."""
    if (scenario is None) != (arm is None):
        _fail("--scenario and --arm go together (give both to include an arm's events, neither for the model only)")
    if disease is None and scenario is None:
        _fail("give --disease (or --scenario with --arm)")
    if disease is not None:
        check_disease(disease)
    from remit.errors import ScenarioError
    from remit.diseases import build_model

    spec = None
    if scenario is not None:
        from remit.scenario import load_scenario

        try:
            spec = load_scenario(scenario)
        except ScenarioError as exc:
            _fail(str(exc))
        if disease is not None and disease != spec.trial.disease:
            _fail(f"--disease {disease} differs from the scenario's disease {spec.trial.disease}")
        disease = spec.trial.disease
    try:
        model = build_model(disease)
    except ValueError as exc:
        _fail(str(exc))
    except ImportError as exc:
        _fail(f"the {disease} model cannot be built: {exc}")
    schedule = None
    if spec is not None:
        names = [a.name for a in spec.arms]
        if arm not in names:
            _fail(f"{scenario}: no arm {arm!r} (arms: {', '.join(names)})")
        from remit.diseases import get_disease
        from remit.therapies import arm_plan

        schedule = arm_plan(model, spec.arms[names.index(arm)], get_disease(disease).drugs).schedule
    from remit.sbml import SBMLExportError, to_sbml

    try:
        text = to_sbml(model, schedule)
    except SBMLExportError as exc:
        _fail(str(exc), 1)
    n_ev = text.count("<event ")
    if str(file) == "-":
        typer.echo(text, nl=False)
    else:
        try:
            file.write_text(text)
        except OSError as exc:
            _fail(f"cannot write {file}: {exc.strerror or exc}")
    typer.echo(f"remit: wrote {file}: SBML L3V2 model {model.name}, {len(model.states)} states (rate rules), "
               f"{len(model.parameters)} parameters, {n_ev} events" + (f" ({arm})" if arm else ""), err=True)

@app.command("diseases")
def diseases(
    name: Optional[str] = typer.Argument(None, help="A disease, to list its population fields, drugs and endpoints"),
    as_json: bool = json_option("remit.diseases/1 or, with NAME, remit.disease/1"),
) -> None:
    """List the diseases remit simulates (or one disease in detail)."""
    from remit.diseases import DISEASES, get_disease
    from remit.docgen import describe_population, endpoint_names

    if name is None:
        records = [_disease_record(get_disease(n)) for n in DISEASES]
        show([Listing("Diseases (trial.disease)", [
            ("disease", "id"), ("label", "label"), ("organ", "organ"),
            ("primary endpoint", lambda r: "-" if r["primary_endpoint"] is None else
             f"{r['primary_endpoint']['name']} ({r['primary_endpoint']['kind']})"),
            ("conventional drugs", "conventional_drugs"),
            ("calibrated on", lambda r: "none: literature values" if r["calibration"] is None else r["calibration"]["trials"]),
        ], records)], {"schema": "remit.diseases/1", "diseases": records}, as_json,
             ("details: remit diseases <disease>; arms: remit therapies",))
        return
    d = get_disease(check_disease(name, None))
    fields = describe_population(name)
    drugs = [{"name": g.name, "efficacy": g.efficacy, "half_life_days": g.half_life_days, "max_years": g.max_years,
              "source": g.source} for g in d.drugs.values()]
    endpoints = [{"name": e.name, "kind": e.kind, "rows": endpoint_names(e), "label": e.label,
                  "definition": e.definition} for e in d.endpoints]
    doc = {"schema": "remit.disease/1", **_disease_record(d), "population_fields": fields, "drugs": drugs,
           "endpoints": endpoints}
    show([Listing(f"{d.label}: [population] fields", _FIELD_COLUMNS, fields),
          Listing("Conventional drugs", [
              ("drug", "name"), ("efficacy while given", lambda g: f"{g['efficacy']:.2f}"),
              ("half-life (d)", lambda g: f"{g['half_life_days']:g}"),
              ("max years", lambda g: None if g["max_years"] is None else f"{g['max_years']:g}"), ("source", "source")],
              drugs),
          Listing("Endpoints", [("rows in endpoints.csv", "rows"), ("label", "label"), ("definition", "definition")],
                  endpoints)], doc, as_json)


_FIELD_COLUMNS = [("field", "field"), ("type", "type"), ("allowed", "allowed"), ("default", "default"), ("unit", "unit")]


def _disease_record(d) -> dict:
    """One disease as ``remit diseases`` lists it. The primary endpoint is the one the design studies analyse
    by default: the declared (Survival) one, else the first Proportion endpoint (rheumatoid arthritis: ACR20)."""
    from remit.design.common import default_endpoint

    e = default_endpoint(d)
    return {"id": d.name, "label": d.label, "organ": d.organ,
            "primary_endpoint": None if e is None else {"name": e.name, "kind": type(e).__name__.lower(), "label": e.label},
            "conventional_drugs": list(d.drugs), "calibration": _calibration(d.name)}


@app.command("therapies")
def therapies(as_json: bool = json_option("remit.therapies/1")) -> None:
    """List the arm types (therapy = ...) with their fields, units and allowed values."""
    from remit.docgen import _doc, describe_field, therapy_tables

    tables, listings = [], []
    for therapy, heading, m, units in therapy_tables():
        fields = [{"field": n, **describe_field(n, f, units)} for n, f in m.model_fields.items()]
        tables.append({"therapy": therapy, "table": m.__name__, "description": _doc(m), "fields": fields})
        listings.append(Listing(f"{heading.lstrip('# ')}: {_doc(m)}", _FIELD_COLUMNS, fields))
    show(listings, {"schema": "remit.therapies/1", "tables": tables}, as_json,
         ("conventional drugs depend on the disease: remit diseases <disease>",))


@app.command("docs")
def docs(out: Path = out_option(Path("docs"), "Folder of the reference pages")) -> None:
    """Regenerate docs/scenario.md, docs/model.md and the per-disease block of docs/endpoints.md from the code."""
    from remit.docgen import write_pages

    out.mkdir(parents=True, exist_ok=True)
    written = write_pages(out)
    typer.echo("\n".join(f"wrote {p}" for p in written) or "docs are up to date")



@app.command("calibrate")
def calibrate_cmd(
    disease: str = disease_option(..., "The disease to calibrate (e.g. lupus)"),
    out: Optional[Path] = out_option(None, "Run directory (default results/calibration/DISEASE)"),
    seed: int = seed_option(1, "Seed of the ABC-SMC proposals", high=2**31 - 1),
    population: int = typer.Option(256, "--population", min=4, max=10_000, help="Particles per ABC-SMC generation"),
    generations: int = typer.Option(30, "--generations", min=1, max=100, help="Most ABC-SMC generations"),
    patients_per_arm: int = patients_per_arm_option(60, "Virtual patients per arm of each calibration trial", 10, 100_000),
    min_epsilon: float = typer.Option(0.5, "--min-epsilon", min=0.0, help="Stop once the threshold (RMS standardised residual) is below this"),
    epsilon_tolerance: float = typer.Option(
        0.05, "--epsilon-tolerance", min=0.0, max=1.0,
        help="Converged: stop once the threshold falls by less than this fraction between generations (0: never)"),
    time_budget: float = typer.Option(
        0.0, "--time-budget", min=0.0,
        help="Seconds: start no generation once the finished ones took this long (0: none; the result then "
             "depends on the machine's speed)"),
    workers: int = workers_option(2, 256, "Processes simulating particles (results do not depend on it)"),
    resume: bool = resume_option("Continue the calibration stored in --out"),
    force: bool = force_option("Discard what --out holds and start over"),
    ship: bool = typer.Option(False, "--ship", help="Also install the result as remit's calibrated defaults (src/remit/data/calibration)"),
) -> None:
    """Fit a disease's population-level parameters to its calibration trials (ABC-SMC, pyabc)."""
    import sys

    from rich.console import Console

    from remit.calibration.abc import CalibrationSettings, calibrate, ship_result

    check_disease(disease)
    if resume and force:
        _fail("--resume and --force exclude each other")
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
    settings = CalibrationSettings(disease=disease, seed=seed, population_size=population, generations=generations,
                                   patients_per_arm=patients_per_arm, min_epsilon=min_epsilon,
                                   epsilon_tolerance=epsilon_tolerance, time_budget_s=time_budget)
    out = out or Path("results/calibration") / disease
    last = [0.0]

    def progress(msg: str) -> None:
        now = time.monotonic()
        if "candidates simulated" in msg and now - last[0] < 10:
            return
        last[0] = now
        console.print(msg)

    try:
        doc = calibrate(settings, out, workers=workers, resume=resume, force=force, progress=progress)
    except (FileExistsError, ValueError) as exc:
        _fail(str(exc))
    for g in doc["generations"]:
        console.print(f"generation {g['t']}: epsilon {g['epsilon']:.3g}, {g['simulations']} simulations, acceptance "
                      f"{g['acceptance_rate']:.2f}, effective sample size {g['effective_sample_size']:.0f}")
    conv = doc["convergence"]
    moved = conv.get("largest_quantile_change")
    console.print(f"stopped by {conv['stopped_by']}" + ("" if moved is None else
                  f"; largest move of a posterior 5/50/95th percentile in the last generation: {moved:.1%} of its prior range"))
    for p in doc["parameters"]:
        lo, hi = p["posterior_95"]
        console.print(f"{p['name']}{'' if p['field'] == 'value' else '.cv'}: prior value {p['prior_value']:.4g} -> "
                      f"{p['point']:.4g} (posterior median {p['posterior_median']:.4g}, 95% {lo:.4g}-{hi:.4g}) {p['unit']}")
    gen_s = sum(g['wall_s'] for g in doc['provenance']['generation_wall_s'])
    console.print(f"wrote {out / 'calibration.json'} ({doc['provenance']['wall_s']:.0f} s this call; generations {gen_s:.0f} s in all)")
    if ship:
        console.print(f"installed as the calibrated defaults: {ship_result(doc)}")


@app.command("validate")
def validate_cmd(
    out: Path = out_option(Path("results/validation"), "Output directory for validation.csv and validation.html"),
    disease: Optional[str] = disease_option(None, "Only this disease (e.g. multiple_sclerosis)"),
    trial: Optional[str] = typer.Option(None, "--trial", help="Only this evidence id (e.g. ms-mist-2019)"),
    patients_per_arm: Optional[int] = patients_per_arm_option(
        None, "Override every scenario's patients_per_arm (smaller: faster, wider CIs)"),
    defaults: str = typer.Option("calibrated", "--defaults", help="Parameter values: calibrated (shipped fits) or prior (literature)"),
    posterior_draws: int = posterior_draws_option(),
    cross_validate: bool = typer.Option(
        False, "--cross-validate",
        help="Leave-one-trial-out: calibrate without each calibration trial in turn, predict it, score it "
             "(cv.csv, cv.html; remit.crossval)"),
    budget: str = typer.Option("quick", "--budget", help="--cross-validate: ABC-SMC settings of each fit, quick "
                                                          "(16 particles x 3 generations x 30 per arm) or full (remit calibrate's defaults)"),
    workers: int = workers_option(1, help="--cross-validate: Dask worker processes running the held-out fits side by "
                                          "side (results do not depend on it)"),
    resume: bool = resume_option("--cross-validate: continue the run in --out (finished fits and trials are kept)"),
    force: bool = force_option("--cross-validate: replace the run in --out"),
    quiet: bool = quiet_option(),
) -> None:
    """Simulate every calibration and validation trial and compare with the published results (with
    --posterior-draws: also the coverage of the 90% predictive intervals at each published trial's size;
    with --cross-validate: each calibration trial predicted by a fit to the disease's other ones)."""
    from rich.console import Console
    from rich.table import Table

    from remit.evidence import EvidenceError
    from remit.validate import run_validation, summary

    if disease is not None:
        check_disease(disease)
    if defaults not in ("calibrated", "prior"):
        _fail(f"--defaults {defaults!r}: must be calibrated or prior")
    import sys

    console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)  # logs: no wrapped ids

    def progress(name: str, i: int, n: int) -> None:
        if not quiet:
            console.print(f"[{i + 1}/{n}] simulating scenario {name}")

    if cross_validate:
        _cross_validate(console, out, disease, trial, patients_per_arm, defaults, posterior_draws, budget, workers,
                        resume, force, quiet)
        return
    if resume or force:
        _fail("--resume and --force apply to --cross-validate only")
    try:
        result = run_validation(out, disease=disease, trial=trial, patients_per_arm=patients_per_arm,
                                defaults=None if defaults == "calibrated" else defaults, on_scenario=progress,
                                posterior_draws=posterior_draws)
    except EvidenceError as exc:
        _fail(str(exc))
    t = result.table
    table = Table(title="Published vs simulated (agree: simulated estimate inside the published 95% interval)")
    for col in ("trial", "role", "endpoint", "arm", "t (y)", "published (95% int.)", "simulated (95% CI)", "agree"):
        table.add_column(col)

    def num(x: float) -> str:
        return "" if x != x else f"{x:.3g}"

    for r in t.itertuples():
        a = float(r.agree)
        mark = "" if a != a else ("[green]yes[/]" if a == 1 else "[red]NO[/]")
        if not r.target:
            mark = (mark + " " if mark else "") + "[dim](not a target)[/]"
        pub_ci = f" ({num(r.published_ci_low)}-{num(r.published_ci_high)})" if r.published_ci_low == r.published_ci_low else ""
        sim_ci = f" ({num(r.sim_ci_low)}-{num(r.sim_ci_high)})" if r.sim_ci_low == r.sim_ci_low else ""
        table.add_row(r.trial_id, r.role, r.label, str(r.arm), num(r.timepoint_years), num(r.published) + pub_ci,
                      num(r.simulated) + sim_ci, mark)
    console.print(table)
    if len(t):
        _print_agreement(console, summary(t), "Agreement (targets; -unverified rows counted apart)")
    for rid, role, reason in result.skipped:
        if not quiet:
            console.print(f"[dim]not simulated: {rid} ({role}): {reason}[/]")
    console.print(f"parameter values: {result.parameters}")
    console.print(f"[bold]wrote[/] {out}/validation.csv and {out}/validation.html ({result.runtime_s:.0f} s)")


def _print_agreement(console, s, title: str) -> None:
    """An agreement summary (remit.validate.summary) as a table; missing numbers empty."""
    from rich.table import Table

    st = Table(title=title)
    for col in s.columns:
        st.add_column(col)
    for r in s.itertuples(index=False):
        st.add_row(*["" if isinstance(v, float) and v != v else f"{v:.3g}" if isinstance(v, float) else str(v)
                     for v in r])
    console.print(st)


def _cross_validate(console, out, disease, trial, patients_per_arm, defaults, posterior_draws, budget, workers, resume,
                    force, quiet) -> None:
    from remit.crossval import CrossValidationError, CrossValidationSettings, run_cross_validation
    from remit.validate import summary

    for given, what in ((trial, "--trial"), (patients_per_arm, "--patients-per-arm"),
                        (None if defaults == "calibrated" else defaults, "--defaults")):
        if given is not None:
            _fail(f"{what} does not apply to --cross-validate (it holds out every calibration trial, at each "
                  "scenario's size, fitted from the literature values)")
    if resume and force:
        _fail("--resume and --force exclude each other")
    say = (lambda s: None) if quiet else (lambda s: console.print(f"[dim]{s}[/]"))
    try:  # an unknown --budget is refused by the settings
        result = run_cross_validation(out, disease, CrossValidationSettings(budget, posterior_draws), workers=workers,
                                      resume=resume, force=force, progress=say)
    except CrossValidationError as exc:
        _fail(str(exc))
    if len(result.table):
        for by, title in ((("disease",), "Cross-validation per disease (targets)"),
                          (("disease", "held_out_trial"), "Per held-out trial")):
            _print_agreement(console, summary(result.table, by), title)
    console.print(f"[bold]wrote[/] {out}/cv.csv and {out}/cv.html ({result.runtime_s:.0f} s)")


@app.command("credibility")
def credibility_cmd(
    out: Path = out_option(Path("results/credibility"), "Output directory for credibility.html and credibility.json"),
    disease: Optional[str] = disease_option(None, "Only this disease (default: all)"),
    validation: Optional[Path] = typer.Option(
        None, "--validation", help="Folder with remit validate's validation.csv (and --cross-validate's cv.csv); "
                                   "default: run the validation now"),
    posterior_draws: int = posterior_draws_option(),
    sensitivity_samples: int = typer.Option(16, "--sensitivity-samples", min=0, max=4096,
                                            help="Sobol base samples of the sensitivity section (power of 2; 0: none)"),
    quiet: bool = quiet_option(),
) -> None:
    """One credibility report per disease (ASME V&V 40 structure): context of use, verification, validation
    and cross-validation, sensitivity, evidence, limitations."""
    from rich.console import Console

    from remit.credibility import run_credibility
    from remit.design.common import DesignError

    if disease is not None:
        check_disease(disease)
    if sensitivity_samples and sensitivity_samples & (sensitivity_samples - 1):
        _fail(f"--sensitivity-samples {sensitivity_samples}: must be a power of 2 (or 0)")
    console = Console(stderr=True)
    say = (lambda s: None) if quiet else (lambda s: console.print(f"[dim]{s}[/]"))
    try:
        docs = run_credibility(out, disease, validation, posterior_draws, sensitivity_samples, say)
    except (FileNotFoundError, DesignError) as exc:
        _fail(str(exc))
    for doc in docs:
        v = ", ".join(f"{c['name']} {c['measured']:.1e} ({'ok' if c['passed'] else 'FAILS'})" for c in doc["verification"])
        console.print(f"{doc['disease']}: {v}")
    console.print(f"[bold]wrote[/] {out}/credibility.html and {out}/credibility.json")


@app.command("predict")
def predict_cmd(
    patient: Path = typer.Argument(..., help="Patient TOML file (see examples/patient_*.toml)"),
    as_json: bool = typer.Option(False, "--json", help="Print the prediction as JSON (schema remit.prediction/1)"),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write the printable HTML page to this file"),
    option: Optional[list[str]] = typer.Option(None, "--option", help="Only these option ids (repeatable; default: all)"),
    n_twins: int = typer.Option(200, "--twins", help="Virtual twins (50-1000)"),
    follow_up: float = typer.Option(5.0, "--follow-up", help="Years of follow-up (at most 10)"),
    seed: int = typer.Option(20240601, "--seed", help="Random seed"),
) -> None:
    """Predict one patient's outcomes under every option (aHSCT variants, MSC, conventional), with warnings.

    Exit status: 0 done; 2 bad patient file or options; 1 prediction impossible (history not reproducible, too slow).
    """
    import json as _json

    from remit.errors import ScenarioError
    from remit.predict import PredictError, load_patient, predict

    try:
        spec = load_patient(patient)
    except ScenarioError as exc:
        _fail(str(exc))
    try:
        pred = predict(spec, options=option or None, n_twins=n_twins, follow_up_years=follow_up, seed=seed)
    except PredictError as exc:
        msg = str(exc)
        _fail(msg, 2 if ("must be" in msg or "unknown option" in msg) else 1)
    if html is not None:
        from remit.web.render import standalone_html

        html.write_text(standalone_html(pred), encoding="utf-8")
    if as_json:
        typer.echo(_json.dumps(pred.to_dict(), indent=2))
        return
    from rich.console import Console

    console = Console()
    console.print(pred.table())
    for w in pred.warnings:
        style = {"contraindication": "bold red", "caution": "yellow"}.get(w.level, "dim")
        console.print(f"[{style}]{w.level}[/]: {w.message} [dim]({w.source})[/]")
    m = pred.method
    console.print(f"[dim]{m['twins']} virtual twins from {m['candidates_screened']} candidates; parameter uncertainty: "
                  f"{m['parameter_uncertainty']}; {pred.timings['total']:.1f} s[/]")


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (default: this machine only)"),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port"),
) -> None:
    """Serve the clinician's prediction page (FastAPI) on http://HOST:PORT/."""
    import uvicorn

    from remit.web import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level="info")


# design studies (remit.cli_design): power, sweep, sensitivity
app.command("power", cls=RenamedOptions)(cli_design.power)
app.command("sweep", cls=RenamedOptions)(cli_design.sweep)
app.command("sensitivity", cls=RenamedOptions)(cli_design.sensitivity)


if __name__ == "__main__":  # pragma: no cover
    app()
