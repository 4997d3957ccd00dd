"""Screened against prior enrolment (issue 17): the same cohort and trial? At what cost?

    .venv/bin/python benchmarks/enrolment.py exactness            # MS and RA, 10,000 per arm each way
    .venv/bin/python benchmarks/enrolment.py exactness --per-arm 2000
    .venv/bin/python benchmarks/enrolment.py cost                 # every example, 2,000 per arm, enrolment only

``exactness`` runs each scenario's trial twice, ``[trial] enrolment = "prior"`` and ``"screened"``, and
tests every number the two cohorts should share with a two-sample test: the baseline covariates and the
history observed at screening (Kolmogorov-Smirnov for continuous columns; chi-square on the contingency
table for columns with few distinct values, e.g. EDSS steps, relapse counts, sex), the four parameters that
selection moves most from their prior (Kolmogorov-Smirnov), and the primary endpoint in
every arm (log-rank for a time to event; chi-square on responders for a proportion). Each p is printed; the
run fails (exit 1) if any is at most 0.01. With about 20 tests the chance that one falls below 0.01 when the
two methods agree is about 18%, so the Holm-adjusted smallest p is printed too.

``cost`` enrols each example both ways and prints candidates burned in per enrolled patient and seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from lifelines.statistics import logrank_test
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from remit.diseases import model_for  # noqa: E402
from remit.enrolment import moved_parameters  # noqa: E402
from remit.population import draw_candidates  # noqa: E402
from remit.scenario import load_scenario  # noqa: E402
from remit.trial import Trial  # noqa: E402

# scenario -> (primary endpoint, its timepoint in years for a proportion): the MS scale test's primary
# endpoint; CX611's ACR20 response at week 24, the end of the published trial (Alvaro-Gracia et al. 2017)
EXACTNESS = {
    "ms_million": ("progression", None),
    "ra_cx611": ("acr20", 24 * 7 / 365.25),
}
ALPHA = 0.01
DISCRETE = 30  # at most this many distinct values: a chi-square test on the counts, not Kolmogorov-Smirnov


def trial(name: str, enrolment: str, per_arm: int) -> Trial:
    path = ROOT / "examples" / f"{name}.toml"
    return Trial(load_scenario(path).with_overrides(patients_per_arm=per_arm, enrolment=enrolment), str(path))


def two_sample(a: np.ndarray, b: np.ndarray) -> tuple[str, float]:
    """(test name, p) comparing two samples of one column."""
    values = np.unique(np.concatenate([a, b]))
    if values.size <= DISCRETE:
        table = np.array([[np.sum(a == v) for v in values], [np.sum(b == v) for v in values]])
        table = table[:, table.sum(axis=0) > 0]
        if table.shape[1] < 2:
            return "chi-square", 1.0
        return "chi-square", float(stats.chi2_contingency(table)[1])
    return "Kolmogorov-Smirnov", float(stats.ks_2samp(a, b).pvalue)


def exactness(name: str, per_arm: int, chunk_size: int) -> dict:
    primary, at = EXACTNESS[name]
    runs, seconds, infos = {}, {}, {}
    for method in ("prior", "screened"):
        t0 = time.perf_counter()
        result = trial(name, method, per_arm).run(write=False, chunk_size=chunk_size)
        seconds[method] = time.perf_counter() - t0
        runs[method] = result
        infos[method] = result.provenance["enrolment"]
    tests: list[dict] = []
    p0, p1 = runs["prior"].patients, runs["screened"].patients
    spec = runs["prior"].spec
    history = [c for c in p0.columns if c.endswith("_baseline") or c == "relapses_prior_year"]
    for column in ("age", "sex", "weight_kg", "disease_duration_years", *history):
        if column not in p0:
            continue
        a, b = p0[column].to_numpy(), p1[column].to_numpy()
        test, p = two_sample(a, b)
        tests.append({"what": column, "test": test, "p": p})
    # a patient's parameters are those its candidate index draws (no second enrolment needed)
    model = model_for(spec)
    names = model.parameter_names
    P0, P1 = (draw_candidates(model, spec, p["candidate_id"].to_numpy())[1] for p in (p0, p1))
    for j in moved_parameters(model, spec, P0):
        tests.append({"what": f"parameter {names[j]}", "test": "Kolmogorov-Smirnov",
                      "p": float(stats.ks_2samp(P0[:, j], P1[:, j]).pvalue)})
    for arm in (a.name for a in spec.arms):
        a, b = p0[p0["arm"] == arm], p1[p1["arm"] == arm]
        ep = runs["prior"].disease.endpoint(primary)
        if at is None:  # a time to event
            p = float(logrank_test(a[ep.time_col], b[ep.time_col], a[ep.event_col], b[ep.event_col]).p_value)
            tests.append({"what": f"{primary} in {arm}", "test": "log-rank", "p": p})
        else:
            rows = {m: r.endpoints[(r.endpoints["arm"] == arm) & (r.endpoints["endpoint"] == primary)]
                    for m, r in runs.items()}
            last = {m: d.iloc[int(np.argmin(np.abs(d["timepoint_years"].to_numpy() - at)))] for m, d in rows.items()}
            k = {m: round(float(x["estimate"]) * int(x["n"])) for m, x in last.items()}
            n = {m: int(x["n"]) for m, x in last.items()}
            table = np.array([[k[m], n[m] - k[m]] for m in ("prior", "screened")])
            p = float(stats.chi2_contingency(table)[1])
            tests.append({"what": f"{primary} at {float(last['prior']['timepoint_years']):.2f} y in {arm}",
                          "test": "chi-square", "p": p, "prior": k["prior"] / n["prior"],
                          "screened": k["screened"] / n["screened"]})
    ps = np.array([t["p"] for t in tests])
    holm = float(np.min(np.minimum(1.0, np.sort(ps) * (ps.size - np.arange(ps.size)))))
    return {"scenario": name, "patients_per_arm": per_arm, "seconds": seconds, "enrolment": infos,
            "tests": tests, "all_above_alpha": bool(np.all(ps > ALPHA)), "holm_min_p": holm}


def cost(per_arm: int, chunk_size: int) -> list[dict]:
    rows = []
    for path in sorted((ROOT / "examples").glob("*.toml")):
        if path.stem.startswith("patient_"):
            continue
        row = {"scenario": path.stem}
        for method in ("prior", "screened"):
            t = trial(path.stem, method, per_arm)
            n = t.spec.trial.patients_per_arm * len(t.spec.arms)
            t0 = time.perf_counter()
            _, info = t.enrol(chunk_size)
            row[method] = {"seconds": time.perf_counter() - t0, "method": info.get("method"),
                           "burned_per_patient": info["candidates_screened"] / n,
                           **{k: v for k, v in info.items() if k in ("screen_K", "clipped_mass_fraction")}}
        rows.append(row)
        print(f"{path.stem:22s} prior {row['prior']['burned_per_patient']:6.1f}/patient {row['prior']['seconds']:6.1f} s"
              f"   screened {row['screened']['burned_per_patient']:6.1f}/patient {row['screened']['seconds']:6.1f} s"
              f"   ({row['screened']['method']})", flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("exactness", "cost"))
    ap.add_argument("--per-arm", type=int, default=None, help="patients per arm (exactness 10,000; cost 2,000)")
    ap.add_argument("--scenario", action="append", choices=sorted(EXACTNESS), help="exactness: only these")
    ap.add_argument("--chunk-size", type=int, default=1000)
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    if args.what == "cost":
        out = cost(args.per_arm or 2000, args.chunk_size)
        ok = True
    else:
        out, ok = [], True
        for name in args.scenario or sorted(EXACTNESS):
            r = exactness(name, args.per_arm or 10_000, args.chunk_size)
            out.append(r)
            ok &= r["all_above_alpha"]
            burned = {m: i["candidates_screened"] / (2 * r["patients_per_arm"]) for m, i in r["enrolment"].items()}
            print(f"\n{name}: {r['patients_per_arm']} per arm; prior {burned['prior']:.1f} burned/patient "
                  f"{r['seconds']['prior']:.0f} s, screened ({r['enrolment']['screened']['method']}) "
                  f"{burned['screened']:.1f} burned/patient {r['seconds']['screened']:.0f} s")
            for t in r["tests"]:
                flag = "" if t["p"] > ALPHA else "   <= 0.01"
                print(f"  {t['what']:42s} {t['test']:20s} p = {t['p']:.3f}{flag}")
            print(f"  Holm-adjusted smallest p: {r['holm_min_p']:.3f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
