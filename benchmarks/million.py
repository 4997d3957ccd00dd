"""The million-patient scale test (issue 5): examples/ms_million.toml end to end, timed phase by phase.

    .venv/bin/python benchmarks/million.py                   # the whole trial: 500,000 per arm, 5 years
    .venv/bin/python benchmarks/million.py --fraction 0.02   # 2% of it (20,000 patients), extrapolated
    make million

It runs the trial exactly as ``remit run`` does (enrolment, chunks simulated and written to the
run directory, read back, endpoints, outputs and report), in this process with the local
executor, and reports for each phase the wall time, the time per 10,000 patients and, for a
fraction, the time extrapolated linearly to the full trial, plus the peak resident memory.
Targets: whole trial under 5 minutes, peak memory under 4 GiB, on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 300.0
TARGET_GIB = 4.0
GIB = 1024.0 ** 3


class Memory:
    """Peak resident memory of this process, overall (getrusage) and per phase (sampled by psutil if installed)."""

    def __init__(self, interval: float = 0.05):
        try:
            import psutil

            self._proc = psutil.Process()
        except ImportError:  # getrusage still gives the overall peak
            self._proc = None
        self.phase = "start"
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval,), daemon=True)

    def _sample(self, interval: float) -> None:
        while not self._stop.is_set():
            self.note()
            self._stop.wait(interval)

    def note(self) -> None:
        if self._proc is not None:
            rss = self._proc.memory_info().rss
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), rss)

    def __enter__(self):
        if self._proc is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @staticmethod
    def peak_bytes() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0  # kilobytes on Linux


class Timers:
    """Wall and CPU seconds (all threads of this process) spent inside wrapped functions, by phase.
    CPU seconds are the steadier number on a shared machine: other users' load stretches wall time."""

    def __init__(self, memory: Memory):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.memory = memory

    def wrap(self, owner, name: str, phase: str) -> None:
        fn = getattr(owner, name)
        timers = self

        def timed(*args, **kwargs):
            before = timers.memory.phase
            timers.memory.phase = phase
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                timers.wall[phase] = timers.wall.get(phase, 0.0) + time.perf_counter() - t0
                timers.cpu[phase] = timers.cpu.get(phase, 0.0) + time.process_time() - c0
                timers.calls[phase] = timers.calls.get(phase, 0) + 1
                timers.memory.note()
                timers.memory.phase = before

        timed.__wrapped__ = fn
        setattr(owner, name, timed)


@contextmanager
def phase(memory: Memory, name: str):
    memory.phase = name
    try:
        yield
    finally:
        memory.note()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default=str(ROOT / "examples" / "ms_million.toml"))
    ap.add_argument("--fraction", type=float, default=1.0, help="run this fraction of the patients (default 1: all)")
    ap.add_argument("--chunk-size", type=int, default=1000)
    ap.add_argument("--out", default=None, help="run directory (default: a temporary one, removed afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary run directory")
    ap.add_argument("--json", default=None, help="where to write the results (default benchmarks/results/million-<date>.json)")
    ap.add_argument("--profile", default=None, help="also write a cProfile of the run to this file")
    args = ap.parse_args(argv)

    load_before = os.getloadavg()
    t_import = time.perf_counter()
    import numba
    import numpy as np

    import remit.endpoints
    import remit.population
    import remit.report
    import remit.rundir
    import remit.trial
    from remit import __version__
    from remit.diseases import get_disease
    from remit.scenario import load_scenario
    from remit.trial import Trial, write_outputs

    import_s = time.perf_counter() - t_import
    spec = load_scenario(args.scenario)
    full_n = spec.trial.patients_per_arm * len(spec.arms)
    per_arm = max(1, int(round(spec.trial.patients_per_arm * args.fraction)))
    spec = spec.with_overrides(patients_per_arm=per_arm)
    n = per_arm * len(spec.arms)
    scale = full_n / n

    tmp = None
    if args.out is None:
        tmp = tempfile.mkdtemp(prefix="remit-million-")
        out = Path(tmp) / "run"
    else:
        out = Path(args.out)

    with Memory() as mem:
        timers = Timers(mem)
        disease = get_disease(spec.trial.disease)
        # the phases, and where the time goes inside enrolment and simulation (wrapped in this process only)
        timers.wrap(remit.trial.Trial, "enrol", "enrolment")
        timers.wrap(remit.population, "simulate", "enrolment: burn-in ODE solve")
        timers.wrap(type(disease), "observe_history", "enrolment: history observation")
        timers.wrap(remit.population, "draw_candidates", "enrolment: candidate draws")
        timers.wrap(remit.trial, "simulate_chunk", "simulation")
        timers.wrap(remit.trial, "simulate", "simulation: ODE solve")
        timers.wrap(remit.trial, "observe_trial", "simulation: observation")
        timers.wrap(remit.rundir.RunDirectory, "write_chunk", "chunk files")
        timers.wrap(remit.endpoints, "compute_endpoints", "endpoints")
        timers.wrap(remit.endpoints, "baseline_table", "endpoints")
        timers.wrap(remit.report, "write_report", "report")
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        t0, c0 = time.perf_counter(), time.process_time()
        timings: dict[str, float] = {}
        with phase(mem, "run"):
            result = Trial(spec, args.scenario).run(out=out, chunk_size=args.chunk_size, force=True, write=False)
        t1, c1 = time.perf_counter(), time.process_time()
        with phase(mem, "outputs"):
            write_outputs(result, out, timings)
        total, total_cpu = time.perf_counter() - t0, time.process_time() - c0
        timers.wall["write outputs"] = time.perf_counter() - t1 - timers.wall.get("report", 0.0)
        timers.cpu["write outputs"] = time.process_time() - c1 - timers.cpu.get("report", 0.0)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        mem.note()
    peak = Memory.peak_bytes()
    collect = result.provenance["timings"].get("collect_s", float("nan"))

    def row(label: str, key: str) -> tuple[str, float, float]:
        return label, timers.wall.get(key, 0.0), timers.cpu.get(key, 0.0)

    def rest(label: str, key: str, parts: list[str]) -> tuple[str, float, float]:
        return (label, timers.wall.get(key, 0.0) - sum(timers.wall.get(p, 0.0) for p in parts),
                timers.cpu.get(key, 0.0) - sum(timers.cpu.get(p, 0.0) for p in parts))

    enrol_parts = ["enrolment: burn-in ODE solve", "enrolment: history observation", "enrolment: candidate draws"]
    sim_parts = ["simulation: ODE solve", "simulation: observation"]
    rows = [row("enrolment", "enrolment")]
    rows += [row(f"  {p.split(': ')[1]}", p) for p in enrol_parts]
    rows += [rest("  other (keys, selection, ...)", "enrolment", enrol_parts)]
    rows += [row("simulation", "simulation")]
    rows += [row(f"  {p.split(': ')[1]}", p) for p in sim_parts]
    rows += [rest("  other (tables, bookkeeping)", "simulation", sim_parts)]
    rows += [row("chunk files", "chunk files"), ("read chunks back", collect, float("nan")), row("endpoints", "endpoints"),
             row("write outputs", "write outputs"), row("report", "report")]
    main_phases = ["enrolment", "simulation", "chunk files", "endpoints", "write outputs", "report"]
    rows += [("other", total - collect - sum(timers.wall.get(k, 0.0) for k in main_phases),
              total_cpu - sum(timers.cpu.get(k, 0.0) for k in main_phases)), ("total", total, total_cpu)]

    enrolled = result.provenance["enrolment"]
    print(f"\n{spec.trial.name}: {n:,} patients ({per_arm:,} per arm, {args.fraction:g} of {full_n:,}), "
          f"{spec.trial.follow_up_years:g} years, chunk size {args.chunk_size}, numba threads {numba.get_num_threads()}, "
          f"{os.cpu_count()} CPUs, load average before {load_before[0]:.2f}")
    print(f"candidates screened: {enrolled['candidates_screened']:,} ({enrolled['candidates_screened'] / n:.2f} per patient)")
    w = max(len(r[0]) for r in rows)
    full = scale > 1.0001
    print(f"\n{'phase':<{w}}  {'wall s':>8}  {'cpu s':>8}  {'wall s/10k':>10}  {'cpu s/10k':>9}"
          + (f"  {'full trial wall s':>17}" if full else ""))
    for name, s_wall, s_cpu in rows:
        line = f"{name:<{w}}  {s_wall:8.2f}  {s_cpu:8.2f}  {s_wall / n * 1e4:10.2f}  {s_cpu / n * 1e4:9.2f}"
        print(line + (f"  {s_wall * scale:17.0f}" if full else ""))
    print(f"\npeak resident memory: {peak / GIB:.2f} GiB (getrusage)")
    if mem.peaks:
        print("peak resident memory by phase (psutil, sampled): " + ", ".join(
            f"{k} {v / GIB:.2f}" for k, v in mem.peaks.items() if k != "start"))
    est_total = total * scale
    print(f"\n{'measured' if scale <= 1.0001 else 'extrapolated (linear)'} full trial: {est_total:.0f} s "
          f"(target {TARGET_S:.0f} s: {'met' if est_total < TARGET_S else 'missed'}); "
          f"peak memory {'measured' if scale <= 1.0001 else 'at this fraction'} {peak / GIB:.2f} GiB "
          f"(target {TARGET_GIB:.0f} GiB{'' if scale > 1.0001 else (': met' if peak / GIB < TARGET_GIB else ': missed')})")

    record = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": [sys.executable, *sys.argv],
        "environment": {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
                        "remit": __version__, "cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
                        "load_average_before": load_before, "load_average_after": os.getloadavg(),
                        "machine": platform.machine(), "import_s": round(import_s, 3)},
        "scenario": args.scenario, "fraction": args.fraction, "patients": n, "patients_per_arm": per_arm,
        "full_trial_patients": full_n, "chunk_size": args.chunk_size,
        "follow_up_years": spec.trial.follow_up_years, "patient_years": result.provenance["patient_years"],
        "enrolment": enrolled,
        "phases_wall_s": {name.strip(): round(sw, 3) for name, sw, _ in rows},
        "phases_cpu_s": {name.strip(): round(sc, 3) for name, _, sc in rows},
        "phases_wall_s_per_10k_patients": {name.strip(): round(sw / n * 1e4, 4) for name, sw, _ in rows},
        "wrapped_calls": timers.calls,
        "total_s": round(total, 3), "total_cpu_s": round(total_cpu, 3), "full_trial_s_estimate": round(est_total, 1),
        "peak_rss_gib": round(peak / GIB, 3),
        "peak_rss_gib_by_phase": {k: round(v / GIB, 3) for k, v in mem.peaks.items()},
        "targets": {"total_s": TARGET_S, "peak_rss_gib": TARGET_GIB,
                    "time_met": est_total < TARGET_S, "memory_met": (peak / GIB < TARGET_GIB) if scale <= 1.0001 else None},
        "outputs_bytes": {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()},
    }
    path = Path(args.json) if args.json else ROOT / "benchmarks" / "results" / f"million-{dt.date.today().isoformat()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=float) + "\n")
    print(f"wrote {path}")
    if tmp is not None and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    elif tmp is not None:
        print(f"run directory kept: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
