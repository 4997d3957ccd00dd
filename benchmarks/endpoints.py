"""Endpoint statistics at scale: the time each endpoint kind takes on 20,000 to 1,000,000 patients.

    .venv/bin/python benchmarks/endpoints.py                 # 20k, 100k, 1M patients
    .venv/bin/python benchmarks/endpoints.py --sizes 20000   # one size

The records are those of examples/ms_ahsct_vs_dmt.toml simulated once at ``--base`` patients per arm
and repeated (new patient ids, the same values) up to each size, so the statistics see the trial's
real ties (visit-grid progression times, integer relapse counts). Prints, per size, the seconds of
each endpoint of the catalog and of the shared ones, their total, and the ratio of the time per
patient to that of the first size in the same run (below 1: better than linear).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from remit.endpoints import SHARED, Records  # noqa: E402
from remit.trial import Trial  # noqa: E402


def repeated(records: Records, n: int) -> Records:
    """``records`` repeated to ``n`` patients (patient ids shifted per copy, arms kept in turn)."""
    p, o = records.patients, records.outcomes
    copies = int(np.ceil(n / len(p)))
    step = int(p["patient_id"].max()) + 1
    pats = pd.concat([p.assign(patient_id=p["patient_id"] + k * step) for k in range(copies)], ignore_index=True)
    outs = pd.concat([o.assign(patient_id=o["patient_id"] + k * step) for k in range(copies)], ignore_index=True)
    pats = pats.iloc[:n]
    outs = outs[outs["patient_id"].isin(pats["patient_id"])]
    return Records(pats, outs.reset_index(drop=True), records.follow_up_years, records.control_arm)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20000,100000,1000000")
    ap.add_argument("--base", type=int, default=2000, help="patients per arm simulated once")
    args = ap.parse_args()
    t0 = time.perf_counter()
    trial = Trial.from_toml(ROOT / "examples" / "ms_ahsct_vs_dmt.toml")
    trial.spec = trial.spec.with_overrides(patients_per_arm=args.base)
    result = trial.run(chunk_size=1000)
    print(f"simulated {len(result.patients)} patients in {time.perf_counter() - t0:.0f} s")
    catalog = (*result.disease.endpoints, *SHARED)
    first = None
    for n in (int(x) for x in args.sizes.split(",")):
        records = repeated(result.records, n)
        times = {}
        for e in catalog:
            t = time.perf_counter()
            e.rows(records)
            times[e.name] = time.perf_counter() - t
        total = sum(times.values())
        first = first or total / n
        parts = ", ".join(f"{k} {v:.2f}" for k, v in times.items())
        print(f"{n:>9,d} patients: {total:7.2f} s, per patient x{total / n / first:.2f} the first size  ({parts})",
              flush=True)


if __name__ == "__main__":
    main()
