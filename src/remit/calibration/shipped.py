"""The calibrated parameter sets shipped with remit (``remit/data/calibration/<disease>.json``,
written by ``remit calibrate --ship``). Light: no pyabc import, read by :func:`remit.diseases.build_model`."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

FORMAT = "remit-calibration/1"


def _path(disease: str):
    return resources.files("remit.data").joinpath("calibration", f"{disease}.json")


@lru_cache(maxsize=None)
def load(disease: str) -> dict[str, Any] | None:
    """The shipped calibration of ``disease`` (the whole JSON document), or None if it has none."""
    path = _path(disease)
    if not path.is_file():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("format") != FORMAT or doc.get("disease") != disease:
        raise ValueError(f"{path}: not a {FORMAT} file for {disease}")
    return doc


def calibrated_values(disease: str) -> dict[str, dict[str, float]]:
    """Parameter name -> {value and/or cv} of the shipped point estimate (empty: not calibrated)."""
    doc = load(disease)
    return {} if doc is None else {k: dict(v) for k, v in doc["point"].items()}


def fitted_trials(doc: dict[str, Any]) -> str:
    """The calibration trials a shipped calibration was fitted to, comma-separated."""
    return ", ".join(sorted({t["trial_id"] for t in doc["targets"]}))


def describe(disease: str) -> str | None:
    """One line on the shipped calibration of ``disease`` (None: it has none)."""
    doc = load(disease)
    if doc is None:
        return None
    return (f"calibrated ({', '.join(sorted(doc['point']))} fitted by remit calibrate on {fitted_trials(doc)}, "
            f"{doc['provenance']['finished'][:10]})")


def note(disease: str) -> str:
    """Where the calibrated values come from, for a parameter's ``source``."""
    doc = load(disease)
    if doc is None:
        return ""
    return f"calibrated by remit calibrate (ABC-SMC) on {fitted_trials(doc)}; prior value in the docs"
