#!/usr/bin/env python
"""Throughput and accuracy of remit's batched integrator, against a naive scipy loop.

    .venv/bin/python benchmarks/throughput.py                      # defaults: sizes 1000,10000
    .venv/bin/python benchmarks/throughput.py --sizes 500 --scipy-n 10 --workers 1,2 --json out.json

What it measures (see benchmarks/README.md for the meaning of every number):

1. remit: ``remit.engine.integrate.simulate`` on N burned-in virtual patients of the
   MIST-like scenario, for each arm (aHSCT and conventional), each N in ``--sizes`` and
   each numba thread count in ``--workers``; virtual patient-years per second. The
   code generation and the first (compiling) call are timed separately.
2. scipy: the same patients, model, events, output grid and tolerances, integrated one
   patient at a time by ``scipy.integrate.solve_ivp(method="LSODA")`` segment by segment
   between the schedule's events, with the compiled ``rhs``/``jac`` as callbacks.
3. libRoadRunner: the model exported to SBML (``remit.sbml.to_sbml``, the arm's protocol
   as SBML events), the same patients, output grid, tolerances and step cap, integrated
   one patient at a time by roadrunner's CVODE (``resetAll``, set the patient's states and
   parameters, ``simulate``); a program outside remit solving the same exchange file.
4. accuracy: the relative error of the final state against a tight-tolerance remit
   reference, cross-checked with scipy's Radau at the same tight tolerance.
5. cost model: operations in the right-hand side (sympy ``count_ops`` after
   common-subexpression elimination) and steps per patient-year.

Results are printed and written as JSON (``--json``, default
``benchmarks/results/throughput-<date>.json``).
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = ROOT / "tests" / "scenarios" / "mist_like.toml"
MAG_MIN = 1e-6  # states smaller than this are left out of relative errors
TARGET_VS_SCIPY = 200  # issue 5: throughput targets on 2 cores, final state within 1e-4 relative
TARGET_VS_ROADRUNNER = 10
STEP_PIECES = {"rodas4": (6, 6), "rodas3": (3, 4), "ros3p": (2, 3)}  # (rhs evaluations, solves) per step


# ----------------------------------------------------------------------------- arguments
def _int_list(text: str) -> list[int]:
    vals = [int(v) for v in text.replace(" ", "").split(",") if v]
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of positive integers, got {text!r}")
    return vals


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=_int_list, default=[1000, 10000], help="patients per simulate call (default 1000,10000)")
    ap.add_argument("--workers", default="1,max",
                    help="numba thread counts, comma-separated; 'max' = NUMBA_NUM_THREADS (default 1,max)")
    ap.add_argument("--scipy-n", type=int, default=30, help="patients in the scipy LSODA loop, per arm (default 30)")
    ap.add_argument("--roadrunner-n", type=int, default=50,
                    help="patients in the libRoadRunner (SBML, CVODE) loop, per arm (default 50; 0 skips it)")
    ap.add_argument("--accuracy-n", type=int, default=20, help="patients in the accuracy check, per arm (default 20, capped at N)")
    ap.add_argument("--radau-n", type=int, default=20,
                    help="patients cross-checked with scipy Radau at the tight tolerance (default 20, capped at --accuracy-n)")
    ap.add_argument("--rtol", type=float, default=None,
                    help="relative tolerance of the timed runs and the scipy loop (default: remit's SolverOptions().rtol)")
    ap.add_argument("--method", choices=("rodas4", "rodas3", "ros3p"), default=None,
                    help="solver method of the timed runs (default: remit's SolverOptions().method); "
                         "'--method rodas3' is the previous default, '--method ros3p --rtol 5e-7' the one before")
    ap.add_argument("--cohort", type=int, default=2000, help="distinct burned-in patients; larger N tiles them (default 2000)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="at most this many timed runs of each remit case, fewer once they add up to --min-time; the best is reported (default 3)")
    ap.add_argument("--min-time", type=float, default=10.0, help="stop repeating a remit case after this many seconds (default 10)")
    ap.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO, help="trial scenario (default tests/scenarios/mist_like.toml)")
    ap.add_argument("--cold", action="store_true",
                    help="compile into a fresh, empty cache directory so that the first call includes numba's full compile")
    ap.add_argument("--json", type=Path, default=None, help="output file (default benchmarks/results/throughput-<date>.json)")
    args = ap.parse_args(argv)
    if args.scipy_n < 0 or args.roadrunner_n < 0 or args.accuracy_n < 0 or args.radau_n < 0 or args.cohort < 1 or args.repeat < 1:
        ap.error("--scipy-n, --roadrunner-n, --accuracy-n, --radau-n must be >= 0; --cohort, --repeat >= 1")
    if args.rtol is not None and not 0 < args.rtol < 1:
        ap.error("--rtol must be in (0, 1)")
    return args


def _workers(text: str, max_threads: int) -> list[int]:
    out: list[int] = []
    for tok in text.replace(" ", "").split(","):
        if not tok:
            continue
        w = max_threads if tok == "max" else int(tok)
        if not 1 <= w <= max_threads:
            raise SystemExit(f"--workers: {w} threads requested, numba allows 1..{max_threads} (NUMBA_NUM_THREADS)")
        if w not in out:
            out.append(w)
    if not out:
        raise SystemExit("--workers: empty list")
    return out


# ----------------------------------------------------------------------------- helpers
def max_rel_error(y: np.ndarray, ref: np.ndarray, names: list[str]) -> dict:
    """Max |y - ref| / |ref| over patients and states with |ref| > MAG_MIN (rows = patients)."""
    y = np.atleast_2d(y)
    ref = np.atleast_2d(ref)
    mask = np.abs(ref) > MAG_MIN
    if not mask.any():
        return {"max": float("nan"), "median_patient_max": float("nan"), "state": None, "patients": int(y.shape[0])}
    err = np.where(mask, np.abs(y - ref) / np.where(mask, np.abs(ref), 1.0), -np.inf)
    err = np.where(np.isfinite(y) | ~mask, err, np.inf)  # a failed solve counts as infinite error
    worst = np.unravel_index(np.argmax(err), err.shape)
    per_patient = err.max(axis=1)
    return {"max": float(err[worst]), "median_patient_max": float(np.median(per_patient)),
            "state": names[worst[1]], "patients": int(y.shape[0])}


PEAK_FLOP_PER_CYCLE = 16  # Zen 4 double precision: 2 FMA pipes x 4 lanes (AVX-512 double-pumped) x 2 flops
SCALAR_FLOP_PER_CYCLE = 4  # no SIMD: 2 FMA pipes x 1 lane x 2 flops


def cpu_ghz() -> float:
    """Nominal clock of this machine (GHz) from /proc/cpuinfo; 2.6 if it cannot be read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1000.0
    except (OSError, ValueError):
        pass
    return 2.6


def rhs_operation_count(model, kernel, method: str) -> dict:
    """Operations of one solver step: sympy ``count_ops`` of the rhs and Jacobian as remit
    generates them (after cse), and the generated sparse LU's exact multiply/add count."""
    import sympy as sp

    def count(exprs):
        subs, reduced = sp.cse(list(exprs), symbols=sp.numbered_symbols("_x"), optimizations="basic")
        return int(sum(sp.count_ops(e) for _, e in subs) + sum(sp.count_ops(e) for e in reduced)), len(subs)

    rhs_ops, rhs_subs = count(model.rhs)
    raw = int(sum(sp.count_ops(e) for e in model.rhs))
    jm = model.jacobian()
    n = len(model.states)
    nz = [jm[i, j] for i in range(n) for j in range(n) if jm[i, j] != 0]
    jac_ops, _ = count(nz)
    lu_ops, solve_ops = int(kernel.LU_FACTOR_FLOPS), int(kernel.LU_SOLVE_FLOPS)
    # one step attempt: Rodas4 = 6 rhs (five stages + f(y_new), which the next step reuses),
    # 1 Jacobian, sparse LU, 6 solves, ~45 vector operations of length n (stage sums, error norm,
    # clipping); Rodas3 = 3 rhs, 1 Jacobian, LU, 4 solves, ~25; ROS3P = 2 rhs, LU, 3 solves, ~20
    if method == "rodas4":
        per_step = 6 * rhs_ops + jac_ops + lu_ops + 6 * solve_ops + 45 * n
    elif method == "rodas3":
        per_step = 3 * rhs_ops + jac_ops + lu_ops + 4 * solve_ops + 25 * n
    else:
        per_step = 2 * rhs_ops + jac_ops + lu_ops + 3 * solve_ops + 20 * n
    return {"rhs_ops_cse": rhs_ops, "rhs_ops_raw": raw, "rhs_cse_subexpressions": rhs_subs,
            "jac_ops_cse": jac_ops, "jac_nonzeros": len(nz), "n_states": n,
            "lu_nonzeros": int(kernel.LU_NONZEROS), "lu_fill_in": int(kernel.LU_FILL_IN),
            "lu_factor_ops": lu_ops, "lu_solve_ops": solve_ops, "method": method,
            "est_flops_per_step": int(per_step)}


def kernel_profile(kernel, y: np.ndarray, p: np.ndarray, reps: int = 200_000) -> dict:
    """Nanoseconds per call of the compiled pieces of a step (rhs, Jacobian entries, sparse LU
    factorisation, one solve), each timed in a numba loop of ``reps`` calls at one patient's state
    (the fastest of five loops)."""
    import numba

    rhs, jac_nz, w_factor, w_solve = kernel.rhs, kernel.jac_nz, kernel.w_factor, kernel.w_solve

    @numba.njit
    def loop_rhs(y, p, dy, reps):
        for _ in range(reps):
            rhs(y, p, dy)
            y[0] += 1e-300 * dy[0]  # a dependency, so that the calls are not hoisted

    @numba.njit
    def loop_jac(y, p, jv, reps):
        for _ in range(reps):
            jac_nz(y, p, jv)
            y[0] += 1e-300 * jv[0]

    @numba.njit
    def loop_factor(jv, lu, reps):
        g = 10.0
        for _ in range(reps):
            g += 1e-300 * w_factor(jv, g, lu)

    @numba.njit
    def loop_solve(lu, b, reps):
        for _ in range(reps):
            w_solve(lu, b)
            b[0] += 1.0

    y, p = y.copy(), p.copy()
    dy = np.empty_like(y)
    jv = np.empty(max(int(kernel.JAC_NONZEROS), 1))
    lu = np.empty(int(kernel.LU_NONZEROS))
    b = np.ones_like(y)
    jac_nz(y, p, jv)
    out = {}
    for name, fn, fargs in (("rhs", loop_rhs, (y, p, dy)), ("jacobian", loop_jac, (y, p, jv)),
                            ("lu_factor", loop_factor, (jv, lu)), ("lu_solve", loop_solve, (lu, b))):
        fn(*fargs, 10)  # compile
        best = float("inf")
        for _ in range(5):  # the fastest of five, as the runs it is compared with are the fastest of theirs
            t0 = time.perf_counter()
            fn(*fargs, reps)
            best = min(best, time.perf_counter() - t0)
        out[name] = best / reps * 1e9
    for method, (n_rhs, n_solve) in STEP_PIECES.items():
        out[f"{method}_step_pieces"] = n_rhs * out["rhs"] + out["jacobian"] + out["lu_factor"] + n_solve * out["lu_solve"]
    return out


def _fmt_rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.2f}"


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.cold:  # must happen before remit compiles anything in this process
        cold_dir = tempfile.mkdtemp(prefix="remit-bench-cache-")
        atexit.register(shutil.rmtree, cold_dir, ignore_errors=True)
        os.environ["REMIT_CACHE_DIR"] = cold_dir

    import numba
    import scipy
    import sympy

    import remit
    from remit.engine.integrate import SolverOptions, absolute_tolerance, simulate
    from remit.engine.reference import solve_ivp_patient
    from remit.diseases import build_model, get_disease
    from remit.model.codegen import compile_model
    from remit.population import YEAR, burn_in, draw_candidates
    from remit.scenario import load_scenario
    from remit.therapies import arm_plan
    from remit.trial import output_grid

    max_threads = int(numba.config.NUMBA_NUM_THREADS)
    workers = _workers(args.workers, max_threads)
    sizes = list(dict.fromkeys(args.sizes))
    n_max = max(sizes)
    started = dt.datetime.now()
    print(f"remit {remit.__version__} throughput benchmark, {started:%Y-%m-%d %H:%M}")
    print(f"  {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, numba {numba.__version__} "
          f"(max {max_threads} threads), scipy {scipy.__version__}, numpy {np.__version__}, python {platform.python_version()}")
    print("  load average (1, 5, 15 min) at start: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
          + " (other processes on this machine slow every timing)")

    spec = load_scenario(str(args.scenario))
    model = build_model(spec.trial.disease)
    years = float(spec.trial.follow_up_years)
    t_end = years * YEAR
    grid = output_grid(t_end)
    opts = SolverOptions()
    if args.rtol is not None or args.method is not None:
        opts = SolverOptions(rtol=opts.rtol if args.rtol is None else args.rtol, method=args.method or opts.method)
    atol = absolute_tolerance(model, opts)
    names = list(model.state_names)
    arms = []
    for therapy in ("ahsct", "conventional"):
        arm = next((a for a in spec.arms if a.therapy == therapy), None)
        if arm is None:
            raise SystemExit(f"{args.scenario}: no {therapy} arm")
        plan = arm_plan(model, arm, get_disease(spec.trial.disease).drugs)
        arms.append({"name": arm.name, "therapy": therapy, "plan": plan, "schedule": plan.schedule})
    print(f"  model {model.name} (hash {model.hash()}): {len(model.states)} states, {len(model.parameters)} parameters; "
          f"scenario {args.scenario.name}; follow-up {years:g} years, {grid.shape[0]} output times")
    print("  arms: " + "; ".join(f"{a['name']} ({a['therapy']}, {len(a['schedule'])} events)" for a in arms))
    print(f"  solver: {opts.method}, rtol {opts.rtol:g}, atol = {opts.atol_scale:g} x max(1, |initial|), h_max {opts.h_max:g} d")

    # -- compile / warm-up --------------------------------------------------------------
    t0 = time.perf_counter()
    kernel = compile_model(model)
    codegen_s = time.perf_counter() - t0
    gen = Path(kernel.__file__)
    cached = any((gen.parent / "__pycache__").glob(gen.stem + ".*.nbi"))
    _, p_w, y_w = draw_candidates(model, spec, np.arange(2))
    numba.set_num_threads(max_threads)
    t0 = time.perf_counter()
    simulate(model, y_w, p_w, arms[0]["plan"].schedule, grid, opts)
    first_call_s = time.perf_counter() - t0
    compile_info = {"codegen_s": codegen_s, "first_call_s": first_call_s, "numba_cache_present": cached,
                    "cold": bool(args.cold), "cache_dir": str(gen.parent), "threading_layer": numba.threading_layer()}
    print("\nCompile / warm-up")
    print(f"  code generation (sympy cse + import)  {codegen_s:8.2f} s")
    print(f"  first simulate call (2 patients)      {first_call_s:8.2f} s   "
          + ("(numba cache present: mostly loading machine code)" if cached else "(no numba cache: full JIT compile)"))

    ops = rhs_operation_count(model, kernel, opts.method)
    ghz = cpu_ghz()
    peak_core = ghz * PEAK_FLOP_PER_CYCLE  # GFLOP/s per core
    print("\nCost model")
    print(f"  rhs operations (sympy count_ops after cse): {ops['rhs_ops_cse']}  "
          f"(before cse {ops['rhs_ops_raw']}; {ops['rhs_cse_subexpressions']} common subexpressions)")
    print(f"  Jacobian operations after cse: {ops['jac_ops_cse']} for {ops['jac_nonzeros']} nonzeros of {ops['n_states']}x{ops['n_states']}")
    print(f"  sparse LU of W: {ops['lu_nonzeros']} nonzeros ({ops['lu_fill_in']} fill-in), factorisation {ops['lu_factor_ops']} ops, "
          f"each solve {ops['lu_solve_ops']} ops")
    stages = "{} rhs + Jacobian + LU + {} solves".format(*STEP_PIECES[opts.method])
    print(f"  operations per {opts.method} step ({stages} + vector ops): {ops['est_flops_per_step']:,}")
    print(f"  machine peak: {ghz:.2f} GHz x {PEAK_FLOP_PER_CYCLE} double-precision flop/cycle = {peak_core:.1f} GFLOP/s per core "
          f"(scalar, no SIMD: {ghz * SCALAR_FLOP_PER_CYCLE:.1f})")

    # -- virtual patients ---------------------------------------------------------------
    n_base = min(n_max, args.cohort)
    t0 = time.perf_counter()
    cohort = burn_in(model, spec, np.arange(n_base), SolverOptions())  # as a trial enrols them, whatever --rtol
    burn_s = time.perf_counter() - t0
    ok = np.flatnonzero(cohort.status == 0)
    if ok.size == 0:
        raise SystemExit("burn-in failed for every candidate")
    reps = int(np.ceil(n_max / ok.size))
    Y = np.ascontiguousarray(np.tile(cohort.y[ok], (reps, 1))[:n_max])
    P = np.ascontiguousarray(np.tile(cohort.params[ok], (reps, 1))[:n_max])
    print(f"\nVirtual patients: burn-in of {n_base} candidates (onset -> enrolment) in {burn_s:.1f} s, "
          f"{ok.size} ok" + (f", tiled x{reps} to {n_max}" if reps > 1 else ""))

    # -- remit ----------------------------------------------------------------------------
    n_acc = min(args.accuracy_n, min(sizes))
    remit_runs: list[dict] = []
    warmups: list[dict] = []
    final_default: dict[str, np.ndarray] = {}
    deterministic = True
    print(f"\nremit simulate ({opts.method}, sparse LU, numba, parallel over patients)")
    print(f"  {'arm':<8} {'workers':>7} {'N':>7} {'wall s':>8} {'runs':>4} {'patient-yr/s':>13} {'steps/pt-yr':>11} {'~GFLOP/s':>8} "
          f"{'%peak':>7} {'failed':>6}")
    for w in workers:
        numba.set_num_threads(w)
        m = min(n_max, 4 * w)
        t0 = time.perf_counter()
        simulate(model, Y[:m], P[:m], arms[0]["plan"].schedule, grid, opts)
        warmups.append({"workers": w, "patients": m, "wall_s": time.perf_counter() - t0})
        for n in sizes:
            for arm in arms:
                walls: list[float] = []
                while len(walls) < args.repeat and sum(walls) < args.min_time:
                    t0 = time.perf_counter()
                    traj = simulate(model, Y[:n], P[:n], arm["plan"].schedule, grid, opts)
                    walls.append(time.perf_counter() - t0)
                wall = min(walls)
                steps_py = float(traj.steps.mean() / years)
                fails = int((traj.status != 0).sum())
                head = traj.y[:n_acc, -1, :].copy()
                if arm["name"] in final_default:
                    deterministic &= bool(np.array_equal(final_default[arm["name"]], head))
                else:
                    final_default[arm["name"]] = head
                rate = n * years / wall
                remit_runs.append({"arm": arm["name"], "therapy": arm["therapy"], "workers": w, "n": n, "wall_s": wall,
                                   "walls_s": walls, "patient_years_per_s": rate, "steps_per_patient_year": steps_py,
                                   "steps_mean": float(traj.steps.mean()), "steps_max": int(traj.steps.max()),
                                   "failed": fails, "est_gflops": ops["est_flops_per_step"] * float(traj.steps.sum()) / wall / 1e9})
                remit_runs[-1]["peak_fraction"] = remit_runs[-1]["est_gflops"] / (peak_core * w)
                print(f"  {arm['name']:<8} {w:>7} {n:>7} {wall:>8.2f} {len(walls):>4} {_fmt_rate(rate):>13} {steps_py:>11.1f} "
                      f"{remit_runs[-1]['est_gflops']:>8.2f} {100 * remit_runs[-1]['peak_fraction']:>6.1f}% {fails:>6}")
                del traj
    print("  thread warm-up calls: " + ", ".join(f"{x['workers']} thr {x['wall_s']:.2f} s" for x in warmups)
          + f"; results identical across worker counts: {deterministic}")

    # -- where the time goes (one thread) ----------------------------------------------------
    numba.set_num_threads(1)
    prof = kernel_profile(kernel, Y[0], P[0])
    n_prof = min(sizes)
    print(f"\nWhere the time goes (1 thread, N {n_prof}): one call of each compiled piece, in a numba loop at patient 0's state")
    print(f"  rhs {prof['rhs']:.0f} ns, Jacobian entries {prof['jacobian']:.0f} ns, sparse LU factorisation {prof['lu_factor']:.0f} ns, "
          f"one solve {prof['lu_solve']:.0f} ns; {stages} = {prof[opts.method + '_step_pieces']:.0f} ns per {opts.method} step")
    print(f"  {'arm':<8} {'ns/step':>8} {'pieces':>7} {'rest of step':>12} {'outputs+checks':>14}   (shares of the wall time per patient)")
    for arm in arms:
        r1 = next((r for r in remit_runs if r["arm"] == arm["name"] and r["workers"] == 1 and r["n"] == n_prof), None)
        if r1 is None:
            continue
        ends = np.array([grid[0], grid[-1]])
        walls = []
        for _ in range(3):
            t0 = time.perf_counter()
            tr_end = simulate(model, Y[:n_prof], P[:n_prof], arm["plan"].schedule, ends, opts)
            walls.append(time.perf_counter() - t0)
        no_out = min(walls)
        per_step = r1["wall_s"] / (r1["steps_mean"] * n_prof) * 1e9
        pieces = prof[opts.method + "_step_pieces"] / per_step
        outputs = max(0.0, (r1["wall_s"] - no_out) / r1["wall_s"])
        r1["profile"] = {"ns_per_step": per_step, "share_step_pieces": pieces, "share_outputs_and_checks": outputs,
                         "share_rest": 1.0 - pieces - outputs, "wall_s_final_output_only": no_out,
                         "steps_mean_final_output_only": float(tr_end.steps.mean())}
        print(f"  {arm['name']:<8} {per_step:>8.0f} {100 * pieces:>6.0f}% {100 * (1 - pieces - outputs):>11.0f}% {100 * outputs:>13.0f}%")
    print("  (rest of step: stage sums, error norm, step control, events; outputs+checks: the cubic interpolation at the "
          f"{grid.shape[0]} output times, writing them and the finiteness check, from a run with the final time as the only output)")

    # -- scipy loop -----------------------------------------------------------------------
    scipy_runs: list[dict] = []
    final_lsoda: dict[str, np.ndarray] = {}
    n_sp = min(args.scipy_n, n_max)
    if n_sp > 0:
        print(f"\nscipy solve_ivp(LSODA) loop, {n_sp} patients per arm, one at a time (same events, grid, rtol/atol, h_max)")
        print(f"  {'arm':<8} {'wall s':>8} {'s/patient':>9} {'patient-yr/s':>13} {'rhs evals/pt':>12} {'jac evals/pt':>12} {'failed':>6}")
        # warm-up: numba dispatch for the array layouts scipy passes (not timed)
        solve_ivp_patient(kernel, Y[0], P[0], arms[0]["plan"].schedule, np.array([0.0, 1.0]), "LSODA", opts.rtol, atol, opts.h_max)
        for arm in arms:
            walls = []
            for _ in range(args.repeat):  # the fastest pass, as for remit: timings on a shared machine are noisy
                finals, nfev, njev, fails = [], 0, 0, 0
                t0 = time.perf_counter()
                for i in range(n_sp):
                    out, fe, je, success = solve_ivp_patient(kernel, Y[i], P[i], arm["schedule"], grid, "LSODA", opts.rtol, atol,
                                                             opts.h_max)
                    finals.append(out[-1])
                    nfev += fe
                    njev += je
                    fails += not success
                walls.append(time.perf_counter() - t0)
            wall = min(walls)
            final_lsoda[arm["name"]] = np.array(finals)
            rate = n_sp * years / wall
            scipy_runs.append({"arm": arm["name"], "therapy": arm["therapy"], "n": n_sp, "wall_s": wall, "walls_s": walls,
                               "patient_years_per_s": rate, "rhs_evals_per_patient": nfev / n_sp,
                               "jac_evals_per_patient": njev / n_sp, "failed": fails})
            print(f"  {arm['name']:<8} {wall:>8.2f} {wall / n_sp:>9.3f} {_fmt_rate(rate):>13} {nfev / n_sp:>12.0f} {njev / n_sp:>12.0f} {fails:>6}")
        sp_rate = {r["arm"]: r["patient_years_per_s"] for r in scipy_runs}
        for r in remit_runs:
            r["speedup_vs_scipy"] = r["patient_years_per_s"] / sp_rate[r["arm"]]
        print("  speed-up remit / scipy (patient-years/s):")
        for r in remit_runs:
            print(f"    {r['arm']:<8} workers {r['workers']:>2}  N {r['n']:>7}: {r['speedup_vs_scipy']:>8.0f}x")

    # -- libRoadRunner loop ---------------------------------------------------------------
    rr_runs: list[dict] = []
    final_rr: dict[str, np.ndarray] = {}
    rr_versions: dict[str, str] = {}
    n_rr = min(args.roadrunner_n, n_max)
    if n_rr > 0:
        try:
            import libsbml
            import roadrunner

            from remit.sbml import RoadRunnerPatients, to_sbml
        except ImportError as exc:
            print(f"\nlibRoadRunner loop skipped: {exc}")
            n_rr = 0
    if n_rr > 0:
        rr_versions = {"libroadrunner": roadrunner.__version__, "python-libsbml": libsbml.getLibSBMLDottedVersion()}
        print(f"\nlibRoadRunner {roadrunner.__version__} (CVODE) loop on the exported SBML, {n_rr} patients per arm, one at a time")
        print(f"  same events (as SBML events), grid, rtol {opts.rtol:g}, per-state atol, maximum_time_step {opts.h_max:g} d; "
              "export = to_sbml, load = RoadRunner(sbml) + one warm-up patient; neither is in the rate")
        print(f"  {'arm':<8} {'export s':>8} {'load s':>7} {'wall s':>8} {'s/patient':>9} {'patient-yr/s':>13} {'failed':>6}")
        for arm in arms:
            t0 = time.perf_counter()
            text = to_sbml(model, arm["schedule"])
            export_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            rrp = RoadRunnerPatients(text, names, list(model.parameter_names), rtol=opts.rtol, atol=atol,
                                     max_steps=opts.max_steps, h_max=opts.h_max)
            rrp.simulate(Y[0], P[0], grid)  # warm-up (not timed)
            load_s = time.perf_counter() - t0
            walls = []
            for _ in range(args.repeat):  # the fastest pass, as for remit
                finals, fails = [], 0
                t0 = time.perf_counter()
                for i in range(n_rr):
                    try:
                        out = rrp.simulate(Y[i], P[i], grid)
                    except RuntimeError:
                        out = np.full((grid.shape[0], len(names)), np.nan)
                    fails += not np.all(np.isfinite(out))
                    finals.append(out[-1])
                walls.append(time.perf_counter() - t0)
            wall = min(walls)
            final_rr[arm["name"]] = np.array(finals)
            rate = n_rr * years / wall
            rr_runs.append({"arm": arm["name"], "therapy": arm["therapy"], "n": n_rr, "wall_s": wall, "walls_s": walls, "export_s": export_s,
                            "load_s": load_s, "patient_years_per_s": rate, "failed": fails})
            print(f"  {arm['name']:<8} {export_s:>8.2f} {load_s:>7.2f} {wall:>8.2f} {wall / n_rr:>9.4f} {_fmt_rate(rate):>13} {fails:>6}")
        rr_rate = {r["arm"]: r["patient_years_per_s"] for r in rr_runs}
        for r in remit_runs:
            r["speedup_vs_roadrunner"] = r["patient_years_per_s"] / rr_rate[r["arm"]]
        print("  speed-up remit / roadrunner (remit / scipy beside it, patient-years/s):")
        for r in remit_runs:
            sp_txt = f"   (scipy: {r['speedup_vs_scipy']:>6.0f}x)" if "speedup_vs_scipy" in r else ""
            print(f"    {r['arm']:<8} workers {r['workers']:>2}  N {r['n']:>7}: {r['speedup_vs_roadrunner']:>8.1f}x{sp_txt}")

    # -- accuracy -------------------------------------------------------------------------
    accuracy: list[dict] = []
    if n_acc > 0:
        tight = SolverOptions(rtol=1e-10, atol_scale=1e-13, h_max=opts.h_max, max_steps=5_000_000)
        atol_tight = absolute_tolerance(model, tight)
        n_rad = min(args.radau_n, n_acc)
        print(f"\nAccuracy: max relative error of the final state (states > {MAG_MIN:g}), first {n_acc} patients per arm")
        print(f"  reference: remit at rtol {tight.rtol:g}, atol_scale {tight.atol_scale:g}"
              + (f"; cross-check: scipy Radau at the same tolerance, first {n_rad} patients" if n_rad else ""))
        hdr = f"  {'arm':<8} {'remit':>13} {'scipy LSODA':>12} {'roadrunner':>11}"
        if n_rad:
            hdr += f" {'ref vs Radau':>12} {'remit vs Radau':>14} {'LSODA vs Radau':>14} {'rr vs Radau':>12}"
        print(hdr + "  worst state (remit / LSODA / roadrunner)")
        numba.set_num_threads(max_threads)
        for arm in arms:
            t0 = time.perf_counter()
            ref_tr = simulate(model, Y[:n_acc], P[:n_acc], arm["plan"].schedule, grid, tight)
            ref_s = time.perf_counter() - t0
            ref = ref_tr.y[:, -1, :]
            dflt = final_default[arm["name"]]
            lsoda = final_lsoda.get(arm["name"])
            rec = {"arm": arm["name"], "therapy": arm["therapy"], "patients": n_acc, "reference_wall_s": ref_s,
                   "reference_failed": int((ref_tr.status != 0).sum()),
                   "reference_steps_per_patient_year": float(ref_tr.steps.mean() / years),
                   "remit_default": max_rel_error(dflt, ref, names)}
            if lsoda is not None:
                k = min(n_acc, lsoda.shape[0])
                rec["scipy_lsoda"] = max_rel_error(lsoda[:k], ref[:k], names)
            rrf = final_rr.get(arm["name"])
            if rrf is not None:
                k = min(n_acc, rrf.shape[0])
                rec["roadrunner"] = max_rel_error(rrf[:k], ref[:k], names)
            if n_rad:
                t0 = time.perf_counter()
                rad = np.array([solve_ivp_patient(kernel, Y[i], P[i], arm["schedule"], grid, "Radau", tight.rtol, atol_tight, tight.h_max)[0][-1]
                                for i in range(n_rad)])
                rec["radau_wall_s"] = time.perf_counter() - t0
                rec["reference_vs_radau"] = max_rel_error(ref[:n_rad], rad, names)
                rec["remit_default_vs_radau"] = max_rel_error(dflt[:n_rad], rad, names)
                if lsoda is not None:
                    k = min(n_rad, lsoda.shape[0])
                    rec["scipy_lsoda_vs_radau"] = max_rel_error(lsoda[:k], rad[:k], names)
                if rrf is not None:
                    k = min(n_rad, rrf.shape[0])
                    rec["roadrunner_vs_radau"] = max_rel_error(rrf[:k], rad[:k], names)
            accuracy.append(rec)
            g = lambda key, rec=rec: rec[key]["max"] if key in rec else float("nan")  # noqa: E731
            line = f"  {arm['name']:<8} {g('remit_default'):>13.2e} {g('scipy_lsoda'):>12.2e} {g('roadrunner'):>11.2e}"
            if n_rad:
                line += (f" {g('reference_vs_radau'):>12.2e} {g('remit_default_vs_radau'):>14.2e} {g('scipy_lsoda_vs_radau'):>14.2e}"
                         f" {g('roadrunner_vs_radau'):>12.2e}")
            worst = (f"{rec['remit_default']['state']} / {rec['scipy_lsoda']['state'] if 'scipy_lsoda' in rec else '-'}"
                     f" / {rec['roadrunner']['state'] if 'roadrunner' in rec else '-'}")
            print(f"{line}  {worst}")
        print("  (reference runs: " + ", ".join(f"{a['arm']} {a['reference_wall_s']:.1f} s, "
                                              f"{a['reference_steps_per_patient_year']:.0f} steps/pt-yr" for a in accuracy)
              + ("; Radau: " + ", ".join(f"{a['arm']} {a['radau_wall_s']:.1f} s" for a in accuracy) if n_rad else "") + ")")
        for a in accuracy:
            if "reference_vs_radau" in a and a["reference_vs_radau"]["max"] > 0.1 * max(a["remit_default"]["max"], 1e-300):
                print(f"  note: {a['arm']}: the remit reference differs from Radau by {a['reference_vs_radau']['max']:.1e}, more than a"
                      " tenth of the error it is meant to measure; read the 'vs Radau' columns (see benchmarks/README.md)")

    # -- summary / JSON -------------------------------------------------------------------
    print("\nSummary (patient-years per second; remit workers x N; steps per patient-year)")
    for arm in arms:
        rs = [r for r in remit_runs if r["arm"] == arm["name"]]
        best = max(rs, key=lambda r: r["patient_years_per_s"])
        sp_txt = next((f", scipy LSODA {_fmt_rate(s['patient_years_per_s'])}" for s in scipy_runs if s["arm"] == arm["name"]), "")
        rr_txt = next((f", roadrunner {_fmt_rate(s['patient_years_per_s'])}" for s in rr_runs if s["arm"] == arm["name"]), "")
        print(f"  {arm['name']:<8} remit best {_fmt_rate(best['patient_years_per_s'])} ({best['workers']} workers, N {best['n']})"
              f"{sp_txt}{rr_txt}; {best['steps_per_patient_year']:.0f} steps/pt-yr")

    # a two-arm trial simulates both arms: its rate is all patient-years over the summed wall times
    trial_rows: list[dict] = []
    if len(arms) == 2:
        base = {}
        for key, runs in (("scipy", scipy_runs), ("roadrunner", rr_runs)):
            if len(runs) == 2:
                base[key] = sum(r["n"] for r in runs) * years / sum(r["wall_s"] for r in runs)
        print(f"\nTwo-arm trial ({arms[0]['name']} + {arms[1]['name']}, equal arms): patient-years/s and speed-up"
              + (f"; scipy LSODA {_fmt_rate(base['scipy'])}" if "scipy" in base else "")
              + (f", roadrunner {_fmt_rate(base['roadrunner'])}" if "roadrunner" in base else "")
              + f"; targets {TARGET_VS_SCIPY:g}x scipy and {TARGET_VS_ROADRUNNER:g}x roadrunner")
        for w in workers:
            for n in sizes:
                pair = [r for r in remit_runs if r["workers"] == w and r["n"] == n]
                if len(pair) != 2:
                    continue
                row = {"workers": w, "n_per_arm": n, "patient_years_per_s": 2 * n * years / sum(r["wall_s"] for r in pair)}
                row.update({f"speedup_vs_{k}": row["patient_years_per_s"] / v for k, v in base.items()})
                trial_rows.append(row)
                txt = "".join(f", {row[f'speedup_vs_{k}']:.0f}x {k}" if k == "scipy" else f", {row[f'speedup_vs_{k}']:.1f}x {k}"
                              for k in base)
                print(f"  workers {w:>2}  N {n:>7} per arm: {_fmt_rate(row['patient_years_per_s']):>9} patient-yr/s{txt}")

    result = {
        "benchmark": "throughput", "date": started.isoformat(timespec="seconds"),
        "argv": sys.argv[1:] if argv is None else list(argv),
        "environment": {"remit": remit.__version__, "python": platform.python_version(), "numpy": np.__version__,
                        "scipy": scipy.__version__, "numba": numba.__version__, "sympy": sympy.__version__,
                        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                        "cpu_count": os.cpu_count(), "numba_max_threads": max_threads, **rr_versions,
                        "load_average": list(os.getloadavg())},
        "model": {"name": model.name, "hash": model.hash(), "n_states": len(model.states), "n_parameters": len(model.parameters)},
        "scenario": str(args.scenario), "follow_up_years": years, "output_times": int(grid.shape[0]),
        "solver": {"method": opts.method, "rtol": opts.rtol, "atol_scale": opts.atol_scale, "h_max": opts.h_max,
                   "max_steps": opts.max_steps},
        "machine_peak": {"ghz": ghz, "flop_per_cycle_per_core": PEAK_FLOP_PER_CYCLE, "gflops_per_core": peak_core},
        "arms": [{"name": a["name"], "therapy": a["therapy"], "events": len(a["schedule"])} for a in arms],
        "cohort": {"burn_in_candidates": n_base, "ok": int(ok.size), "tiled_to": n_max, "burn_in_s": burn_s},
        "compile": compile_info, "operations": ops, "kernel_profile_ns": prof, "thread_warmup": warmups, "remit": remit_runs,
        "deterministic_across_workers": deterministic, "scipy_lsoda": scipy_runs, "roadrunner": rr_runs,
        "accuracy": accuracy, "two_arm_trial": trial_rows,
        "targets": {"vs_scipy": TARGET_VS_SCIPY, "vs_roadrunner": TARGET_VS_ROADRUNNER, "final_state_rel_error": 1e-4},
    }
    path = args.json or ROOT / "benchmarks" / "results" / f"throughput-{started:%Y-%m-%d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, allow_nan=True) + "\n")
    print(f"\nwrote {path}")
    return result


if __name__ == "__main__":
    main()
