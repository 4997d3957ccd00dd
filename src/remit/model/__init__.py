"""The mechanistic model: the shared immune core plus one module per disease."""

from __future__ import annotations

from functools import lru_cache

from remit.model.core import core_module
from remit.model.spec import Module, ModelSpec, Parameter, State, compose

DISEASES = ("multiple_sclerosis",)


@lru_cache(maxsize=None)
def build_model(disease: str) -> ModelSpec:
    """The full model (core + disease module) for ``disease``."""
    if disease == "multiple_sclerosis":
        from remit.model.diseases import multiple_sclerosis as ms

        return compose(disease, [core_module(), ms.module()])
    raise ValueError(f"unknown disease {disease!r} (known: {', '.join(DISEASES)})")


__all__ = ["DISEASES", "Module", "ModelSpec", "Parameter", "State", "build_model", "compose"]
