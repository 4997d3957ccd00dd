"""The mechanistic model: the shared immune core plus one module per disease."""

from __future__ import annotations

import importlib
from functools import lru_cache

from remit.model.core import core_module, msc_module
from remit.model.spec import Module, ModelSpec, Parameter, State, compose

DISEASES = (
    "multiple_sclerosis",
    "systemic_sclerosis",
    "rheumatoid_arthritis",
    "lupus",
    "crohns_disease",
    "type1_diabetes",
)


@lru_cache(maxsize=None)
def build_model(disease: str, calibrated: bool = True) -> ModelSpec:
    """The full model for ``disease``: shared core + the disease's module (``remit.model.diseases.<disease>``) + MSC.

    ``calibrated``: with the population values fitted by ``remit calibrate`` and shipped in
    ``remit/data/calibration/<disease>.json`` (where the disease has them); False gives the
    literature (prior) values."""
    if disease not in DISEASES:
        raise ValueError(f"unknown disease {disease!r} (known: {', '.join(DISEASES)})")
    if calibrated:
        from remit.calibration.shipped import calibrated_values, note

        prior = build_model(disease, calibrated=False)
        values = calibrated_values(disease)
        return prior.with_values(values, note=note(disease)) if values else prior
    module = importlib.import_module(f"remit.model.diseases.{disease}").module()
    # MSC last: earlier state/parameter indices (and population draws) stay unchanged
    return compose(disease, [core_module(), module, msc_module()])


def model_for(spec) -> ModelSpec:
    """The model a scenario runs: its disease's model with the scenario's ``[model]`` settings
    (calibrated or prior defaults, then single parameters set by the scenario)."""
    settings = spec.model
    values = tuple(sorted((k, v.value, v.cv) for k, v in settings.parameters.items()))
    return _with_values(spec.trial.disease, settings.defaults == "calibrated", values)


@lru_cache(maxsize=256)
def _with_values(disease: str, calibrated: bool, values: tuple) -> ModelSpec:
    base = build_model(disease, calibrated)
    if not values:
        return base
    updates = {k: {f: x for f, x in (("value", v), ("cv", cv)) if x is not None} for k, v, cv in values}
    return base.with_values(updates, note="set by the scenario ([model.parameters])")


__all__ = ["DISEASES", "Module", "ModelSpec", "Parameter", "State", "build_model", "compose", "model_for"]
