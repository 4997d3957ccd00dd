"""The evidence base: schema, mappings, scenarios, published intervals and agreement, the
calibration/validation separation, and a tiny ``remit validate`` end to end."""

from __future__ import annotations

import copy
import math
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd
import pydantic
import pytest
import yaml
from scipy import stats

import remit.evidence as ev
from remit.diseases import DISEASES
from remit.evidence import EvidenceError
from remit.evidence.schema import Mapping, MappingEntry

SHARED = Path(__file__).resolve().parents[2] / "shared" / "evidence" / "trials.yaml"


def packaged_text() -> str:
    return resources.files("remit.data.evidence").joinpath("trials.yaml").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _raw() -> str:
    return packaged_text()


def raw_records() -> list[dict]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(_raw(), Loader=loader)


def few_records(*ids: str) -> list[dict]:
    """A small evidence file: the named records (fresh copies), in this order."""
    recs = {r["id"]: r for r in raw_records()}
    return [copy.deepcopy(recs[i]) for i in ids]


# --------------------------------------------------------------------------
# schema and loader
# --------------------------------------------------------------------------


@pytest.mark.skipif(not SHARED.is_file(), reason="../shared/evidence/trials.yaml not present")
def test_packaged_evidence_equals_shared_file():
    assert packaged_text() == SHARED.read_text(encoding="utf-8")


def every_trials_file() -> list[str]:
    """The text of every evidence folder's trials.yaml: remit's own, then the diseases' and therapies' own."""
    from remit.evidence.store import folders

    return [f.joinpath("trials.yaml").read_text(encoding="utf-8") for f in folders() if f.joinpath("trials.yaml").is_file()]


def test_every_record_loads_with_its_role():
    recs = ev.records()
    texts = every_trials_file()
    assert len(recs) == sum(t.count("\n- id: ") + t.startswith("- id: ") for t in texts)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    assert len(recs) == sum(len(yaml.load(t, Loader=loader)) for t in texts)
    assert {"sle-mackensen-2022-cart", "ssc-erlangen-cart-2023"} <= set(recs)  # the CAR-T package's own
    assert set(ev.roles().values()) == {"calibration", "validation", "reference"}
    for rid, rec in recs.items():
        assert rec.id == rid
        assert rec.unverified == rid.endswith("-unverified")
        assert rec.target == (not rec.unverified)
        assert rec.verified == (not rec.unverified)
        if rec.role != "reference":
            assert rec.remit_disease in DISEASES, rid
        assert rec.citation.authors and rec.citation.title
    # dict-style access kept for older callers
    mist = ev.record("ms-mist-2019")
    assert mist["id"] == "ms-mist-2019" and mist["endpoints"][0].get("arm") == "aHSCT"


def _dump(records: list[dict]) -> str:
    return yaml.safe_dump(records, sort_keys=False)


@pytest.mark.parametrize("change, field, problem", [
    (lambda r: r["endpoints"][1].__setitem__("ci_low", "abc"), "endpoints[1].ci_low", "number"),
    (lambda r: r.pop("role"), "role", "required"),
    (lambda r: r.__setitem__("role", "training"), "role", "calibration"),
    (lambda r: r["citation"].pop("title"), "citation.title", "required"),
    (lambda r: r["endpoints"][0].__setitem__("colour", "red"), "endpoints[0].colour", "not permitted"),
    (lambda r: r["endpoints"][2].update(ci_low=5.0, ci_high=1.0), "endpoints[2]", "ci_low"),
    (lambda r: r["endpoints"][0].__setitem__("verified", False), "(record)", "-unverified"),
])
def test_malformed_record_is_a_clear_error(change, field, problem):
    recs = few_records("ms-mist-2019", "ssc-astis-2014")
    i = 1
    change(recs[i])
    with pytest.raises(EvidenceError) as err:
        ev.parse_records(_dump(recs), "trials.yaml")
    msg = str(err.value)
    assert "record 'ssc-astis-2014'" in msg and f"(#{i})" in msg
    assert field in msg and problem in msg
    assert "\n" not in msg


def test_unverified_record_claiming_verification_is_rejected():
    recs = few_records("ms-ebmt-muraro-2017-unverified")
    recs[0]["verified"] = True
    with pytest.raises(EvidenceError, match="ms-ebmt-muraro-2017-unverified.*verified: false"):
        ev.parse_records(_dump(recs))


def test_structural_errors():
    with pytest.raises(EvidenceError, match="list of records"):
        ev.parse_records("id: x\n")
    with pytest.raises(EvidenceError, match="not valid YAML"):
        ev.parse_records("- id: [unclosed\n")
    recs = few_records("ms-mist-2019", "ms-mist-2019")
    with pytest.raises(EvidenceError, match="duplicate id"):
        ev.parse_records(_dump(recs))


# --------------------------------------------------------------------------
# mappings and scenarios
# --------------------------------------------------------------------------


@pytest.mark.parametrize("trial_id", ev.mapped_trials())
def test_mapping_references_published_and_simulated_endpoints(trial_id):
    rec = ev.record(trial_id)
    m = ev.mapping(trial_id)
    assert m is not None and m.trial == trial_id
    disease = rec.remit_disease
    names = ev.simulated_endpoints(disease)
    for entry in m.endpoints:
        pub = ev.find_published(rec, entry)
        assert pub is not None, f"{trial_id}: {entry.published} matches no published endpoint"
        assert pub.number is not None, f"{trial_id}: {entry.published} has no numeric value"
        assert entry.simulated.endpoint in names, f"{trial_id}: unknown simulated endpoint {entry.simulated.endpoint}"
        pv = ev.published_value(rec, entry, names[entry.simulated.endpoint])
        assert math.isfinite(pv.value)
        if rec.role in ("calibration", "validation"):
            scen = ev.scenario_name(trial_id, entry.scenario)
            assert scen is not None, f"{trial_id}: no scenario"
            spec = ev.load_trial_scenario(scen)
            assert spec.trial.disease == disease
            if entry.simulated.arm not in ("treatment", "control", "comparison"):
                assert entry.simulated.arm in spec.arm_names, f"{trial_id}: no arm {entry.simulated.arm!r} in {scen}"
            if entry.simulated.group is not None:
                groups = [g.name for g in spec.subpopulations]
                assert entry.simulated.group in groups, f"{trial_id}: no group {entry.simulated.group!r} in {scen}"


def test_every_scenario_parses_and_belongs_to_a_mapped_trial():
    used = {ev.scenario_name(t, e.scenario) for t in ev.mapped_trials() for e in ev.mapping(t).endpoints}
    for name in ev.scenario_names():
        spec = ev.load_trial_scenario(name)
        assert spec.trial.disease == ev.disease_of(name), name
        assert name in used, f"scenario {name} is not used by any mapping"
        assert 100 <= spec.trial.patients_per_arm <= 500


def test_every_published_number_is_mapped_or_listed_as_left_out():
    """Issue 16: each published numeric endpoint of a simulated record is mapped to a simulated row, or its trial
    is in docs/validation.md's table of numbers left out (adverse-event tallies are left out for every trial)."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "validation.md").read_text(encoding="utf-8")
    table = text[text.index("Parts of simulated trials are also left out"):text.index("## `remit validate`")]
    listed = {line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")}
    missing = {}
    for trial_id in ev.mapped_trials():
        left = [e.name for e in ev.unmapped_endpoints(ev.record(trial_id), ev.mapping(trial_id))
                if not re.search(r"adverse|\bAEs?\b", e.name, re.IGNORECASE)]
        if left and trial_id not in listed:
            missing[trial_id] = left
    assert not missing, f"published numbers neither mapped nor listed in docs/validation.md: {missing}"
    # and the table names no trial without such a number
    stale = {t for t in listed - {"all", "trial"}
             if not ev.unmapped_endpoints(ev.record(t), ev.mapping(t))}
    assert not stale, stale


def test_unknown_ids_are_clear_errors():
    with pytest.raises(EvidenceError, match="unknown evidence id 'no-such-trial'"):
        ev.record("no-such-trial")
    assert ev.mapping("ssc-meta-2023") is None
    with pytest.raises(EvidenceError, match="no endpoint mapping"):
        ev.load_published("ssc-meta-2023")


# --------------------------------------------------------------------------
# published intervals and agreement (synthetic numbers)
# --------------------------------------------------------------------------


def synthetic_record(**endpoint) -> ev.EvidenceRecord:
    base = dict(name="x", arm="A", value=0.0, unit=None, ci_low=None, ci_high=None, timepoint=None, definition=None,
                verified=True)
    return ev.EvidenceRecord.model_validate(dict(
        id="ms-synthetic-2000", role="validation", disease="MS", therapy="aHSCT", regimen="r", source_of_cells=None,
        route=None, citation=dict(authors="A", year=2000, journal="J", title="T"), design="single-arm",
        n={"A": 40}, follow_up=None, endpoints=[{**base, **endpoint}], verified=True,
        source_url_or_location=["nowhere"], notes=None))


def entry(**kw) -> MappingEntry:
    return MappingEntry.model_validate({"published": {"name": "x", "arm": "A"},
                                        "simulated": {"endpoint": "e", "arm": "treatment"}, **kw})


def test_stated_interval_is_used_and_scaled():
    rec = synthetic_record(value=45.0, unit="%", ci_low=30.0, ci_high=60.0)
    pv = ev.published_value(rec, entry(scale=0.01), "proportion")
    assert pv.rule == "stated" and (pv.value, pv.ci_low, pv.ci_high) == pytest.approx((0.45, 0.30, 0.60))
    assert ev.agree(0.59, pv.ci_low, pv.ci_high) == 1.0
    assert ev.agree(0.61, pv.ci_low, pv.ci_high) == 0.0
    assert ev.agree(0.30, pv.ci_low, pv.ci_high) == 1.0  # inclusive


def test_binomial_interval_from_counts_and_arm_n():
    rec = synthetic_record(value=12, unit="patients")  # 12 of the arm's 40
    pv = ev.published_value(rec, entry(scale=1 / 40), "proportion")
    ci = stats.binomtest(12, 40).proportion_ci(method="exact")
    assert pv.rule == "binomial" and pv.value == pytest.approx(0.3)
    assert (pv.ci_low, pv.ci_high) == pytest.approx((ci.low, ci.high))
    assert "12/40" in pv.detail
    # denominator written with the number wins over the arm's n
    rec2 = synthetic_record(value=25.0, unit="% (5/20)")
    pv2 = ev.published_value(rec2, entry(scale=0.01), "proportion")
    assert "5/20" in pv2.detail
    assert pv2.ci_high == pytest.approx(stats.binomtest(5, 20).proportion_ci(method="exact").high)
    # the mapping's n wins over both
    pv3 = ev.published_value(rec2, entry(scale=0.01, n=100), "proportion")
    assert "25/100" in pv3.detail
    # boundaries: 0/n and n/n
    assert ev.clopper_pearson(0, 10)[0] == 0.0 and ev.clopper_pearson(10, 10)[1] == 1.0
    assert ev.clopper_pearson(0, 10)[1] == pytest.approx(1 - 0.025 ** (1 / 10))


def test_mean_without_sd_has_no_interval_and_no_agree():
    rec = synthetic_record(value=-19.9, unit="mRSS units")
    pv = ev.published_value(rec, entry(), "mean")
    assert pv.rule == "none" and math.isnan(pv.ci_low) and "no interval derivable" in pv.detail
    assert math.isnan(ev.agree(-19.9, pv.ci_low, pv.ci_high))


def test_mean_with_sd_gives_t_interval():
    rec = synthetic_record(value=12.2, unit="score (mean, SD 3.3)")
    pv = ev.published_value(rec, entry(), "mean")
    half = stats.t.ppf(0.975, 39) * 3.3 / math.sqrt(40)
    assert pv.rule == "mean_sd" and (pv.ci_low, pv.ci_high) == pytest.approx((12.2 - half, 12.2 + half))


def test_ratio_without_interval_and_text_values():
    rec = synthetic_record(value=0.5, unit="HR")
    assert ev.published_value(rec, entry(), "other").rule == "none"
    with pytest.raises(EvidenceError, match="no numeric value"):
        ev.published_value(synthetic_record(value=">50", unit="%"), entry(), "proportion")


def test_malformed_mapping_entry_is_rejected():
    with pytest.raises(pydantic.ValidationError, match="scael"):
        Mapping.model_validate({"trial": "t", "endpoints": [{"published": {"name": "x", "arm": "A"},
                                                             "simulated": {"endpoint": "e", "arm": "a"},
                                                             "scael": 0.01}]})


# --------------------------------------------------------------------------
# separation of calibration and validation
# --------------------------------------------------------------------------


def test_calibration_path_reads_no_validation_record():
    with ev.audit() as log, ev.calibration_context():
        assert ev.in_calibration()
        per_disease = [ev.calibration_targets(d, include_unverified=True) for d in DISEASES]
        everything = ev.calibration_targets(include_unverified=True)
        recs = ev.calibration_records()
    assert not ev.in_calibration()
    assert log.reads, "the audit saw no read at all"
    assert log.of_role("validation") == [], f"validation records read on the calibration path: {log.of_role('validation')}"
    assert set(everything["trial_id"]) <= {rid for rid, r in ev.roles().items() if r == "calibration"}
    assert sum(len(t) for t in per_disease) == len(everything) > 0
    assert all(r.role == "calibration" for r in recs.values())
    hard = ev.calibration_targets()
    assert hard["target"].all() and not hard["trial_id"].str.endswith("-unverified").any()
    assert set(everything.loc[~everything["target"], "trial_id"]) == {t for t in everything["trial_id"] if t.endswith("-unverified")}


def test_reading_a_validation_record_inside_calibration_raises():
    validation_id = next(rid for rid, r in ev.roles().items() if r == "validation")
    mapped_validation = next(t for t in ev.mapped_trials() if ev.roles()[t] == "validation")
    with ev.audit() as log, ev.calibration_context():
        with pytest.raises(EvidenceError, match="role 'validation'.*calibration"):
            ev.record(validation_id)
        with pytest.raises(EvidenceError, match="role 'validation'"):
            ev.mapping(mapped_validation)
        with pytest.raises(EvidenceError, match="role 'validation'"):
            list(ev.records().values())
        ev.records("reference")["kin-cd4-reviews"]  # reference and calibration records stay readable
    assert validation_id in log.of_role("validation")  # refused reads are logged too
    assert ev.record(validation_id).role == "validation"  # outside the context: fine


# --------------------------------------------------------------------------
# remit validate, end to end (tiny)
# --------------------------------------------------------------------------


def test_validate_cli_tiny(tmp_path):
    from typer.testing import CliRunner

    from remit.cli import app

    out = tmp_path / "val"
    res = CliRunner().invoke(app, ["validate", "--trial", "ms-mist-2019", "--patients-per-arm", "30", "--out", str(out),
                                   "--quiet", "--posterior-draws", "3"])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out / "validation.csv")
    assert list(df.columns) == ["trial_id", "role", "arm", "endpoint", "timepoint_years", "published",
                                "published_ci_low", "published_ci_high", "simulated", "sim_ci_low", "sim_ci_high", "agree",
                                "pi_low", "pi_high", "trial_n", "covered"]
    # coverage: the predictive interval at the published trial's size (MIST: 55 per arm) holds the published value
    pi = df["pi_low"].notna()
    assert pi.sum() >= len(df) // 2 and (df.loc[pi, "trial_n"] > 0).all()
    held = (df["published"] >= df["pi_low"]) & (df["published"] <= df["pi_high"])
    assert (df.loc[pi, "covered"].astype(bool) == held[pi]).all() and df.loc[~pi, "covered"].isna().all()
    assert set(df["trial_id"]) == {"ms-mist-2019"} and set(df["role"]) == {"calibration"}
    assert len(df) == len(ev.mapping("ms-mist-2019").endpoints)
    # a hazard ratio is undefined (NaN) when an arm of this tiny trial has no event; every other row is simulated
    hr = df["endpoint"] == "progression_hazard_ratio"
    assert df.loc[~hr, "simulated"].notna().all()
    no_event = (df["endpoint"] == "progression_free") & (df["simulated"] == 0)  # compared as progressed = 1 - KM
    assert df.loc[hr, "simulated"].notna().all() or no_event.any()
    with_int = df["published_ci_low"].notna() & df["simulated"].notna()
    assert df.loc[with_int, "agree"].isin([True, False]).all() and df.loc[~with_int, "agree"].isna().all()
    inside = (df["simulated"] >= df["published_ci_low"]) & (df["simulated"] <= df["published_ci_high"])
    assert (df.loc[with_int, "agree"].astype(bool) == inside[with_int]).all()
    text = (out / "validation.html").read_text(encoding="utf-8")
    assert "How to read agree" in text and "Clopper-Pearson" in text and "forest-multiple_sclerosis" in text
    assert "width_ratio" in text and "coverage" in text


def test_validate_cli_rejects_unknown_trial(tmp_path):
    from typer.testing import CliRunner

    from remit.cli import app

    res = CliRunner().invoke(app, ["validate", "--trial", "ssc-meta-2023", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "nothing to validate" in res.output
