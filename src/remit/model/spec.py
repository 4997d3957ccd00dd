"""Declarative model definition: states, parameters and rate laws, declared once.

A :class:`ModelSpec` is data plus sympy expressions. Everything numerical is
generated from it (the compiled right-hand side and Jacobian in
:mod:`remit.model.codegen`, the equations in the docs, later the SBML export), so
the pieces cannot drift apart. Modules (the shared immune core, a disease) each
contribute states, parameters and additive rate terms; :func:`compose` merges them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Iterable, Literal

import numpy as np
import sympy as sp

from remit.random import parameter_counters

Prior = Literal["fixed", "lognormal", "logitnormal"]


@dataclass(frozen=True)
class State:
    """One state variable of the ODE system."""

    name: str
    unit: str
    description: str
    initial: float = 0.0
    nonnegative: bool = True


@dataclass(frozen=True)
class Parameter:
    """One model parameter: value, units, plausible range and its source.

    ``value`` is the population typical value. ``prior`` says how it varies between
    virtual patients: ``fixed`` (no variation), ``lognormal`` (median ``value``,
    log-sd ``cv``) or ``logitnormal`` (for fractions; median ``value``, logit-sd
    ``cv``). Draws are clipped to ``[low, high]``, the range the source supports.
    """

    name: str
    value: float
    unit: str
    low: float
    high: float
    source: str
    description: str = ""
    prior: Prior = "fixed"
    cv: float = 0.0

    MAX_CV = 3.0  # the largest between-patient spread (log/logit sd) a scenario or calibration may set

    def problem(self, field: str, x: float, fmt=lambda v: f"{v:g}") -> str | None:
        """Why ``x`` cannot be this parameter's ``field`` (``value`` or ``cv``), or None if it can:
        a value stays in [low, high]; a spread needs a varying prior and lies in (0, MAX_CV]."""
        if field == "value":
            if not (self.low <= x <= self.high):  # NaN fails too
                return f"must be between {fmt(self.low)} and {fmt(self.high)} {self.unit} (the range its source supports)"
        elif self.prior == "fixed":
            return "cannot be set: this parameter does not vary between patients (prior fixed)"
        elif not (0.0 < x <= self.MAX_CV):
            return f"must be between 0 (exclusive) and {fmt(self.MAX_CV)}"
        return None

    def __post_init__(self) -> None:
        if not (self.low <= self.value <= self.high):
            raise ValueError(f"parameter {self.name}: value {self.value} outside [{self.low}, {self.high}]")
        if self.prior != "fixed" and self.cv <= 0:
            raise ValueError(f"parameter {self.name}: a {self.prior} prior needs cv > 0")


@dataclass
class Module:
    """A piece of the model: its states, parameters and rate terms.

    ``rates`` maps a state name to a sympy expression added to that state's
    derivative; symbols are the state and parameter names, or the name of an observable
    of any module (substituted by :func:`compose`). ``overrides`` re-declare
    parameters of an earlier module (same name, the disease's own value, range and
    source, e.g. the rate of new tissue lesions in the disease's organ). ``state_units`` give
    earlier modules' states the unit they have in this module's disease (the core's
    target-organ states measure what the disease says, e.g. lupus nephritis in g/day of
    proteinuria); nothing else about the state changes.
    """

    name: str
    states: list[State] = field(default_factory=list)
    parameters: list[Parameter] = field(default_factory=list)
    rates: dict[str, sp.Expr] = field(default_factory=dict)
    observables: dict[str, sp.Expr] = field(default_factory=dict)
    overrides: list[Parameter] = field(default_factory=list)
    state_units: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    """A complete ODE model: ``dy/dt = f(y, p)`` (autonomous; time enters via events).

    ``parameter_counters`` are the counters of each parameter's per-patient draw in a
    candidate's random stream, derived from the parameter's name alone
    (:func:`remit.random.parameter_counters`): adding, removing or reordering parameters
    changes no other parameter's draws. Two names with the same counter are refused here.
    """

    name: str
    states: tuple[State, ...]
    parameters: tuple[Parameter, ...]
    rhs: tuple[sp.Expr, ...]
    observables: tuple[tuple[str, sp.Expr], ...] = ()
    parameter_counters: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameter_counters", parameter_counters(self.parameter_names))

    @property
    def state_names(self) -> list[str]:
        return [s.name for s in self.states]

    @property
    def parameter_names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def state_index(self, name: str) -> int:
        return self.state_names.index(name)

    def parameter_index(self, name: str) -> int:
        return self.parameter_names.index(name)

    def parameter(self, name: str) -> Parameter:
        return self.parameters[self.parameter_index(name)]

    def symbols(self) -> tuple[list[sp.Symbol], list[sp.Symbol]]:
        return ([sp.Symbol(s.name) for s in self.states], [sp.Symbol(p.name) for p in self.parameters])

    def jacobian(self) -> sp.Matrix:
        y, _ = self.symbols()
        return sp.Matrix(self.rhs).jacobian(y)

    def hash(self) -> str:
        """A stable digest of the equations, units and typical values (for provenance)."""
        h = hashlib.sha256()
        for s in self.states:
            h.update(repr((s.name, s.unit, s.initial)).encode())
        for p in self.parameters:
            h.update(repr((p.name, p.value, p.unit, p.low, p.high, p.prior, p.cv)).encode())
        for e in self.rhs:
            h.update(sp.srepr(e).encode())
        return h.hexdigest()[:16]

    def structure_hash(self) -> str:
        """A digest of the equations alone (state and parameter names, rate laws): what the
        generated code depends on. Parameter values are run-time inputs, so a model with
        calibrated or overridden values shares the compiled code of its prior model."""
        h = hashlib.sha256()
        for s in self.states:
            h.update(repr((s.name, s.nonnegative)).encode())
        for p in self.parameters:
            h.update(p.name.encode())
        for e in self.rhs:
            h.update(sp.srepr(e).encode())
        for k, e in self.observables:
            h.update(repr((k, sp.srepr(e))).encode())
        return h.hexdigest()[:16]

    def equations_hash(self) -> str:
        """A digest of what the trajectories depend on: states, rate laws and observables, and the names of
        the parameters they use. Unlike :meth:`structure_hash` (which the generated code keys on, since
        it indexes parameters by position) it does not change when a parameter that no equation uses is
        added, e.g. one that only an observer reads; a calibration stays valid across such a change."""
        h = hashlib.sha256()
        for s in self.states:
            h.update(repr((s.name, s.nonnegative)).encode())
        used = set().union(*(e.free_symbols for e in self.rhs), *(e.free_symbols for _, e in self.observables))
        h.update(repr(sorted(p.name for p in self.parameters if sp.Symbol(p.name) in used)).encode())
        for e in self.rhs:
            h.update(sp.srepr(e).encode())
        for k, e in self.observables:
            h.update(repr((k, sp.srepr(e))).encode())
        return h.hexdigest()[:16]

    def with_values(self, updates: Mapping[str, Mapping[str, float]], note: str = "") -> "ModelSpec":
        """A copy with new population values: ``updates`` maps a parameter name to ``value``
        (the typical value) and/or ``cv`` (its between-patient spread). Values must stay inside
        the parameter's [low, high]; a spread needs a varying prior. ``note`` is appended to
        the parameter's source (e.g. where a calibrated value comes from)."""
        params = list(self.parameters)
        for name, upd in updates.items():
            if name not in self.parameter_names:
                raise ValueError(f"model {self.name} has no parameter {name!r}")
            unknown = set(upd) - {"value", "cv"}
            if unknown:
                raise ValueError(f"parameter {name}: unknown field(s) {sorted(unknown)} (allowed: value, cv)")
            j = self.parameter_index(name)
            p = params[j]
            for what, x in upd.items():
                why = p.problem(what, float(x))
                if why:
                    raise ValueError(f"parameter {name}: {what} = {float(x):g}: {why}")
            params[j] = replace(p, **{f: float(x) for f, x in upd.items()}, source=p.source + (f"; {note}" if note else ""))
        return replace(self, parameters=tuple(params))


def compose(name: str, modules: Iterable[Module]) -> ModelSpec:
    """Merge modules into one model, checking that every symbol is declared once."""
    states: dict[str, State] = {}
    params: dict[str, Parameter] = {}
    rates: dict[str, sp.Expr] = {}
    observables: dict[str, sp.Expr] = {}
    overrides: list[tuple[str, Parameter]] = []
    state_units: list[tuple[str, str, str]] = []
    for m in modules:
        for s in m.states:
            if s.name in states or s.name in params:
                raise ValueError(f"{m.name}: state {s.name} declared twice")
            states[s.name] = s
        for p in m.parameters:
            if p.name in params or p.name in states:
                raise ValueError(f"{m.name}: parameter {p.name} declared twice")
            params[p.name] = p
        for k, e in m.rates.items():
            rates[k] = rates.get(k, sp.Integer(0)) + e
        observables.update(m.observables)
        overrides += [(m.name, p) for p in m.overrides]
        state_units += [(m.name, k, u) for k, u in m.state_units.items()]
    for who, p in overrides:  # after every module, so a disease may also override a later module's parameter
        if p.name not in params:
            raise ValueError(f"{who}: override of undeclared parameter {p.name}")
        params[p.name] = p  # same position, the module's value/range/source
    for who, k, unit in state_units:
        if k not in states:
            raise ValueError(f"{who}: unit given for undeclared state {k}")
        states[k] = replace(states[k], unit=unit)
    # a module may read another module's observable (e.g. the core's attack_rate): substituted, so that
    # the rate laws hold states and parameters only and the observable stays declared in one place
    clash = sorted(set(observables) & (set(states) | set(params)))
    if clash:
        raise ValueError(f"observable {clash[0]} has the name of a state or parameter")
    named = {sp.Symbol(k): e for k, e in observables.items()}
    for _ in range(len(named) + 1):
        rates = {k: e.xreplace(named) for k, e in rates.items()}
        named = {s: e.xreplace(named) for s, e in named.items()}
    observables = {str(s): e for s, e in named.items()}
    known = set(states) | set(params)
    for k, e in list(rates.items()) + list(observables.items()):
        if k in rates and k not in states:
            raise ValueError(f"rate given for undeclared state {k}")
        unknown = {str(s) for s in e.free_symbols} - known
        if unknown:
            raise ValueError(f"{k}: undeclared symbols {sorted(unknown)}")
    rhs = tuple(rates.get(s, sp.Integer(0)) for s in states)
    return ModelSpec(name, tuple(states.values()), tuple(params.values()), rhs, tuple(observables.items()))
