"""The diseases remit simulates, one package each (``remit/diseases/<id>/``), found by id in
:data:`DISEASES`; :func:`build_model` composes a disease's full model.

Importing this package imports every disease package, and each registers its
:class:`~remit.diseases.base.Disease` under its id; shared code looks diseases up here and never
names one. A disease defined elsewhere (a test, a user's module) registers the same way,
``DISEASES.register("toy", ToyDisease())`` (tests/toy_disease.py).
"""

from __future__ import annotations

from functools import lru_cache

from remit.model.core import core_module
from remit.model.spec import ModelSpec, compose
from remit.therapies import THERAPIES
from remit.diseases.base import DISEASES, Disease


def get_disease(id: str):
    """The registered :class:`~remit.diseases.base.Disease` ``id`` (KeyError naming the known ones otherwise)."""
    return DISEASES.get(id)


# registration order is the order diseases are listed in
from remit.diseases import (multiple_sclerosis, systemic_sclerosis, rheumatoid_arthritis, lupus,  # noqa: E402,F401
                            crohns_disease, type1_diabetes)


@lru_cache(maxsize=None)
def build_model(disease: str, calibrated: bool = True) -> ModelSpec:
    """The full model of ``disease``: the shared core + the disease's module (``Disease.module()``) + the
    modules of the therapies that add to the model (``Therapy.module()``: MSC).

    ``calibrated``: with the population values fitted by ``remit calibrate`` and shipped in
    ``remit/data/calibration/<disease>.json`` (where the disease has them); False gives the
    literature (prior) values."""
    if disease not in DISEASES:
        raise ValueError(DISEASES.unknown(disease))
    if calibrated:
        from remit.calibration.shipped import calibrated_values, note

        prior = build_model(disease, calibrated=False)
        values = calibrated_values(disease)
        return prior.with_values(values, note=note(disease)) if values else prior
    # the therapies' modules last: earlier state and parameter indices stay unchanged
    therapies = [m for _, t in THERAPIES.items() if (m := t.module()) is not None]
    return compose(disease, [core_module(), get_disease(disease).module(), *therapies])


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


__all__ = ["DISEASES", "Disease", "build_model", "get_disease", "model_for"]
