"""The mechanistic model's declarations: states, parameters and rate laws (:mod:`remit.model.spec`),
the shared immune core and MSC pharmacology (:mod:`remit.model.core`), and code generation
(:mod:`remit.model.codegen`). A disease's full model is composed by
:func:`remit.diseases.build_model`."""

from __future__ import annotations

from remit.model.spec import Module, ModelSpec, Parameter, State, compose

__all__ = ["Module", "ModelSpec", "Parameter", "State", "compose"]
