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
def build_model(disease: str) -> ModelSpec:
    """The full model for ``disease``: shared core + the disease's module (``remit.model.diseases.<disease>``) + MSC."""
    if disease not in DISEASES:
        raise ValueError(f"unknown disease {disease!r} (known: {', '.join(DISEASES)})")
    module = importlib.import_module(f"remit.model.diseases.{disease}").module()
    # MSC last: earlier state/parameter indices (and population draws) stay unchanged
    return compose(disease, [core_module(), module, msc_module()])


__all__ = ["DISEASES", "Module", "ModelSpec", "Parameter", "State", "build_model", "compose"]
