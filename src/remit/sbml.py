"""SBML export of a remit model (and, optionally, one protocol's events).

:func:`to_sbml` writes SBML Level 3 Version 2 with python-libsbml, generated from the
same :class:`~remit.model.spec.ModelSpec` the engine compiles, so the exchange file
cannot drift from the simulated equations:

- every state is a **non-constant global parameter with a rate rule**
  ``d(state)/dt = rhs``. There are no species, compartments or reactions: the rates are
  not mass-action, the states are not amounts of a substance in a volume (cells/uL,
  ug/mL, a damage score, cumulative counts), and SBML restricts a species' units to
  substance units, whereas a parameter may carry any unit. A rate rule is the ODE exactly;
- every parameter is a **global parameter** with its value; its unit, plausible range,
  prior, description and source travel as XHTML notes and as a machine-readable
  ``remit:parameter`` annotation;
- observables are parameters with assignment rules;
- **units**: the model's time unit is the day, and every state, parameter and observable
  has ``units``: one unit definition per declared unit string, named by it, built by
  :mod:`remit.model.units` (``cells/uL`` is item per 1e-6 litre; clinical scales such as
  ``EDSS points`` are dimensionless, SBML having no user-defined base units); an
  observable has the unit of its expression. Every literal number in the math carries
  the unit its context requires (``sbml:units``: the 200 of ``cd4/200`` is 200 cells/uL,
  the 1 of ``1 - hsc`` is dimensionless), so libsbml's unit check can verify every rule;
  rate rules, events and observables whose units do not fit raise :class:`SBMLExportError`;
- the schedule's events become SBML events: one per distinct event time, triggered by
  ``time >= t`` (persistent, ``initialValue="false"`` so that events at time 0 fire, no
  delay). remit applies same-time events one after another (an added amount may be
  scaled by a parameter an earlier event just set); the SBML event assigns the composed
  result of that sequence, so it does not depend on how a tool orders simultaneous
  events. Assignments: ``state := state + amount [* param]`` (dose),
  ``param := value`` (set), ``state := state * exp(-logs [* param])`` (log-kill).

The SBML model starts at time 0. Events before 0 are treated as remit's engine treats
events before a patient's start: parameter settings are folded into the initial
parameter values, doses and kills are left out.

Expressions go sympy -> an infix string printed here (fully parenthesised, numbers as
exact double literals with their units, ``Pow`` as ``^``, ``exp``, ``ln``, ``piecewise``) ->
``libsbml.parseL3FormulaWithModel`` -> MathML. :func:`validate` runs libsbml's
consistency checks, unit consistency included; :func:`to_sbml` raises if they report an
error (the tests also require that they report no unit warning). libsbml writes
numbers with 15 significant digits (a relative rounding of at most 5e-15); the
annotations keep the exact values (``repr``). remit's engine clips states at zero after
every step; SBML has no such constraint (the model keeps its states nonnegative, so only
round-off near zero differs).

:class:`RoadRunnerPatients` runs the exported model in libRoadRunner (CVODE), one patient
at a time, for verification and benchmarks (``libroadrunner`` is imported only there).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html import escape

import numpy as np
import sympy as sp

from remit.model.spec import ModelSpec
from remit.model.units import DIMENSIONLESS, Unit, UnitError, common, factor_wants, parse, settle
from remit.therapies.schedule import EV_ADD, EV_LOG_KILL, EV_SET_PARAM, Schedule

ANNOTATION_NS = "urn:remit:sbml-annotation:1"  # namespace of remit's annotations (a name, not a web address)
ANNOTATION_PREFIX = "remit"
_TIME_TOL = 1e-12  # events closer than this (days) count as simultaneous, as in the engine
_SID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# identifiers the L3 formula parser would read as constants or csymbols, not as model symbols
_RESERVED = {"time", "avogadro", "e", "exponentiale", "pi", "true", "false", "inf", "infinity", "nan", "notanumber",
             "INF", "NaN"}


class SBMLExportError(ValueError):
    """The model or schedule cannot be written as valid SBML."""


# ----------------------------------------------------------------------------- sympy -> L3 infix
def _num(x: float) -> str:
    if not math.isfinite(x):
        raise SBMLExportError(f"non-finite number {x!r} in an expression")
    return repr(float(x))  # shortest repr that round-trips to the same double


class FormulaPrinter:
    """sympy -> SBML L3 infix formula (parseable by ``libsbml.parseL3Formula``).

    Fully parenthesised so that the parser's precedence rules cannot change the meaning;
    rationals and floats are printed as the double the engine computes with. With
    ``units`` (symbol name -> :class:`~remit.model.units.Unit`) and ``unit_id`` (a unit ->
    its SBML unit id), every literal number is written with the unit its context requires
    (``(200 u_cells_per_uL)``, see :mod:`remit.model.units`), and a term whose units do not
    fit raises :class:`SBMLExportError`.
    """

    def __init__(self, units: Mapping[str, Unit] | None = None, unit_id: Callable[[Unit], str] | None = None):
        self.units, self.unit_id = units, unit_id

    def __call__(self, e: sp.Expr, want: Unit | None = None) -> str:
        """The formula of ``e``; ``want`` is the unit ``e`` must have (None: whatever it has)."""
        try:
            return self._print(e, want if self.units is not None else None)
        except UnitError as exc:
            raise SBMLExportError(str(exc)) from None

    def number(self, x: float, unit: Unit | None) -> str:
        """A literal number (as the double the engine uses) with its unit."""
        return self._lit(_num(x), unit)

    def _lit(self, text: str, unit: Unit | None) -> str:
        if self.units is None:
            return f"({text})" if text.startswith("-") else text
        return f"({text} {self.unit_id(unit if unit is not None else DIMENSIONLESS)})"

    def _common(self, args, want: Unit | None, where) -> Unit | None:
        return None if self.units is None else common(args, self.units, want, where)

    def _require(self, e, have: Unit, want: Unit | None) -> None:
        if want is not None and not have.same(want):
            raise UnitError(f"units do not match in {e}: {have} and {want}")

    def _print(self, e: sp.Expr, want: Unit | None) -> str:
        p = self._print
        if isinstance(e, sp.Symbol):
            if self.units is not None:
                self._require(e, self.units[e.name], want)
            return e.name
        if e.is_Number:
            if e is sp.nan or e in (sp.oo, -sp.oo, sp.zoo):
                raise SBMLExportError(f"non-finite number {e} in an expression")
            return self._lit(str(int(e)) if e.is_Integer else _num(float(e)), want)
        if e in (sp.true, sp.false):
            return "true" if e == sp.true else "false"
        if isinstance(e, sp.Add):
            target = self._common(e.args, want, e)
            return "(" + " + ".join(p(a, target) for a in e.args) + ")"
        if isinstance(e, sp.Mul):
            wants = [None] * len(e.args) if self.units is None else factor_wants(e.args, self.units, want, e)
            num, den = [], []
            for a, w in zip(e.args, wants):
                if isinstance(a, sp.Pow) and a.exp.is_Number and a.exp < 0:
                    den.append(p(a.base if a.exp == -1 else sp.Pow(a.base, -a.exp, evaluate=False), None if w is None else w ** -1))
                else:
                    num.append(p(a, w))
            top = " * ".join(num) if num else self._lit("1", DIMENSIONLESS)
            if not den:
                return "(" + top + ")"
            return "(" + top + " / (" + " * ".join(den) + "))"
        if isinstance(e, sp.Pow):
            b, x = e.args
            if not x.is_Number:
                self._require(e, DIMENSIONLESS, want)
                return f"({p(b, DIMENSIONLESS)} ^ {p(x, DIMENSIONLESS)})"
            if x < 0:
                inner = b if x == -1 else sp.Pow(b, -x, evaluate=False)
                return f"({self._lit('1', DIMENSIONLESS)} / {p(inner, None if want is None else want ** -1)})"
            wb = None if want is None else want ** (1 / x)
            if x == sp.Rational(1, 2):
                return f"sqrt({p(b, wb)})"
            return f"({p(b, wb)} ^ {p(x, DIMENSIONLESS)})"
        if isinstance(e, (sp.exp, sp.log)):
            if isinstance(e, sp.log) and len(e.args) != 1:
                raise SBMLExportError(f"log with a base is not supported: {e}")
            self._require(e, DIMENSIONLESS, want)
            return ("exp" if isinstance(e, sp.exp) else "ln") + f"({p(e.args[0], DIMENSIONLESS)})"
        if isinstance(e, sp.Abs):
            return f"abs({p(e.args[0], want)})"
        if isinstance(e, (sp.Max, sp.Min)):
            target = self._common(e.args, want, e)
            return ("max" if isinstance(e, sp.Max) else "min") + "(" + ", ".join(p(a, target) for a in e.args) + ")"
        if isinstance(e, sp.Piecewise):
            target = self._common([v for v, _ in e.args], want, e)
            parts: list[str] = []
            for val, cond in e.args:
                if cond == sp.true:
                    parts.append(p(val, target))  # "otherwise"
                    break
                parts += [p(val, target), p(cond, None)]
            return "piecewise(" + ", ".join(parts) + ")"
        if isinstance(e, sp.core.relational.Relational):
            op = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}[e.rel_op]
            target = self._common([e.lhs, e.rhs], None, e)
            return f"({p(e.lhs, target)} {op} {p(e.rhs, target)})"
        if isinstance(e, (sp.And, sp.Or)):
            op = " && " if isinstance(e, sp.And) else " || "
            return "(" + op.join(p(a, None) for a in e.args) + ")"
        if isinstance(e, sp.Not):
            return f"!({p(e.args[0], None)})"
        raise SBMLExportError(f"cannot write {type(e).__name__} as SBML math: {e}")


def formula(expr: sp.Expr) -> str:
    """An SBML L3 infix formula for a sympy expression, numbers without units (see :class:`FormulaPrinter`)."""
    return FormulaPrinter()(expr)


# ----------------------------------------------------------------------------- units
def _unit_id(text: str) -> str:
    s = text.replace("%", " percent ").replace("/", " per ").replace(".", "p").replace("-", "_")
    return "u_" + re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_")


class _UnitDefinitions:
    """The model's unit definitions: one per declared unit string (named by it), and one per
    other unit a literal or an observable needs (named by :class:`Unit`'s text)."""

    def __init__(self, sbml_model):
        self.m = sbml_model
        self.by_text: dict[str, str] = {}
        self.by_unit: dict[Unit, str] = {}

    def declared(self, text: str, owner: str) -> tuple[Unit, str]:
        """The unit of a declared unit string and its SBML id."""
        try:
            unit = parse(text)
        except UnitError as exc:
            raise SBMLExportError(f"{owner}: {exc}") from None
        if text.strip() == "1":
            return unit, "dimensionless"
        if text not in self.by_text:
            self.by_text[text] = self._create(unit, text)
            self.by_unit.setdefault(unit, self.by_text[text])
        return unit, self.by_text[text]

    def __call__(self, unit: Unit) -> str:
        """The SBML id of ``unit`` (a declared definition with the same parts, or a new one)."""
        if unit == DIMENSIONLESS:
            return "dimensionless"
        if unit not in self.by_unit:
            self.by_unit[unit] = self._create(unit, str(unit))
        return self.by_unit[unit]

    def _create(self, unit: Unit, name: str) -> str:
        import libsbml

        uid, k = _unit_id(name), 2
        while self.m.getUnitDefinition(uid) is not None:
            uid, k = f"{_unit_id(name)}_{k}", k + 1
        ud = self.m.createUnitDefinition()
        _check(ud.setId(uid), f"unit {name}")
        ud.setName(name)
        for kind, exponent, scale, multiplier in unit.sbml_parts() or [("dimensionless", 1.0, 0, 1.0)]:
            u = ud.createUnit()
            _check(u.setKind(libsbml.UnitKind_forName(kind)), f"unit {name}")
            u.setExponent(exponent)
            u.setScale(scale)
            u.setMultiplier(multiplier)
        return uid


# ----------------------------------------------------------------------------- events
def _compose_events(model: ModelSpec, schedule: Schedule) -> tuple[list[tuple[float, list[str], dict]], dict[int, float], int]:
    """Group events by time and compose each group's sequence into one assignment per variable.

    Returns (groups as (t, labels, {symbol name: sympy expression of pre-event values})),
    parameter values set before time 0, number of doses/kills before 0 left out).
    """
    names_y, names_p = model.state_names, model.parameter_names
    order = np.argsort(schedule.t, kind="stable")
    groups: list[tuple[float, list[str], dict]] = []
    early_params: dict[int, float] = {}
    skipped = 0
    for i in order:
        t, kind, idx = float(schedule.t[i]), int(schedule.kind[i]), int(schedule.idx[i])
        val, pidx = float(schedule.val[i]), int(schedule.pidx[i])
        label = schedule.labels[i] if i < len(schedule.labels) else ""
        if not math.isfinite(t) or not math.isfinite(val):
            raise SBMLExportError(f"event {i}: non-finite time or value")
        if kind not in (EV_ADD, EV_SET_PARAM, EV_LOG_KILL):
            raise SBMLExportError(f"event {i}: unknown kind {kind}")
        if t < -_TIME_TOL:
            if kind == EV_SET_PARAM:
                early_params[idx] = val
            else:
                skipped += 1
            continue
        t = max(t, 0.0)
        if not groups or t - groups[-1][0] > _TIME_TOL:
            groups.append((t, [], {}))
        _, labels, cur = groups[-1]
        labels.append(label or f"event {i}")

        def now(name, cur=cur):
            return cur.get(name, sp.Symbol(name))

        scale = now(names_p[pidx]) if pidx >= 0 else sp.Integer(1)
        if kind == EV_ADD:
            cur[names_y[idx]] = now(names_y[idx]) + sp.Float(val) * scale
        elif kind == EV_SET_PARAM:
            cur[names_p[idx]] = sp.Float(val)
        else:
            cur[names_y[idx]] = now(names_y[idx]) * sp.exp(-sp.Float(val) * scale)
    return groups, early_params, skipped


# ----------------------------------------------------------------------------- writer
def _check(code: int, what: str) -> None:
    import libsbml

    if code != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise SBMLExportError(f"libsbml: {what} failed: {libsbml.OperationReturnValue_toString(code)}")


def _notes(rows: list[tuple[str, str]]) -> str:
    items = "".join(f"<p><b>{escape(k)}</b>: {escape(v)}</p>" for k, v in rows if v != "")
    return f'<body xmlns="http://www.w3.org/1999/xhtml">{items}</body>'


def _annotation(tag: str, attrs: dict[str, str]) -> str:
    a = " ".join(f'{k}="{escape(str(v), quote=True)}"' for k, v in attrs.items())
    return f'<{ANNOTATION_PREFIX}:{tag} xmlns:{ANNOTATION_PREFIX}="{ANNOTATION_NS}" {a}/>'


def _math(text: str, sbml_model):
    import libsbml

    ast = libsbml.parseL3FormulaWithModel(text, sbml_model)
    if ast is None:
        raise SBMLExportError(f"libsbml could not parse {text!r}: {libsbml.getLastParseL3Error()}")
    return ast


def to_sbml(model: ModelSpec, schedule: Schedule | None = None, y0=None, params=None) -> str:
    """SBML Level 3 Version 2 text of ``model`` (and ``schedule``'s events, if given).

    ``y0`` (S,) and ``params`` (P,) override the initial states (default ``State.initial``)
    and parameter values (default ``Parameter.value``; the typical value stays in the
    annotation). Raises :class:`SBMLExportError` when libsbml's consistency check finds an error.
    """
    import libsbml

    import remit

    names_y, names_p = model.state_names, model.parameter_names
    obs_names = [n for n, _ in model.observables]
    all_ids = names_y + names_p + obs_names
    for n in all_ids:
        if not _SID.match(n) or n in _RESERVED:
            raise SBMLExportError(f"{n!r} is not usable as an SBML identifier")
    if len(set(all_ids)) != len(all_ids):
        raise SBMLExportError("states, parameters and observables must have distinct names")
    y_init = np.array([s.initial for s in model.states], dtype=float) if y0 is None else np.asarray(y0, dtype=float)
    p_vals = np.array([p.value for p in model.parameters], dtype=float) if params is None else np.asarray(params, dtype=float).copy()
    if y_init.shape != (len(names_y),) or p_vals.shape != (len(names_p),):
        raise SBMLExportError(f"y0 must have shape ({len(names_y)},) and params ({len(names_p)},)")
    if not (np.all(np.isfinite(y_init)) and np.all(np.isfinite(p_vals))):
        raise SBMLExportError("y0 and params must be finite")

    groups, early, skipped = ([], {}, 0) if schedule is None else _compose_events(model, schedule)
    for j, v in early.items():
        p_vals[j] = v
    set_later = {n for _, _, cur in groups for n in cur if n in names_p}

    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    mid = "remit_" + re.sub(r"[^A-Za-z0-9_]", "_", model.name)
    _check(m.setId(mid), "model id")
    m.setName(f"remit {model.name}")
    about = [("generated by", f"remit {remit.__version__} (remit.sbml.to_sbml) from the model specification"),
             ("model", model.name), ("model hash", model.hash()), ("time unit", "day"),
             ("states", f"{len(names_y)} non-constant parameters with rate rules (listed first)"),
             ("parameters", f"{len(names_p)} global parameters; {len(obs_names)} observables as assignment rules"),
             ("events", f"{len(groups)} (one per distinct event time)" if schedule is not None else "none (model only)")]
    if early:
        about.append(("before time 0", f"{len(early)} parameter settings folded into initial values"))
    if skipped:
        about.append(("left out", f"{skipped} doses/kills scheduled before time 0"))
    _check(m.setNotes(_notes(about)), "model notes")

    # units: time in days; every state, parameter and observable carries its unit (remit.model.units)
    defs = _UnitDefinitions(m)
    day, day_id = defs.declared("day", "model time")
    _check(m.setTimeUnits(day_id), "time units")
    units: dict[str, Unit] = {}

    for s, v in zip(model.states, y_init):
        q = m.createParameter()
        _check(q.setId(s.name), f"state {s.name}")
        q.setName(s.description)
        q.setValue(float(v))
        q.setConstant(False)
        units[s.name], uid = defs.declared(s.unit, f"state {s.name}")
        _check(q.setUnits(uid), f"units of {s.name}")
        _check(q.setNotes(_notes([("state variable", "rate rule d/dt = rhs of the model"), ("description", s.description),
                                  ("unit", s.unit), ("typical initial value", f"{s.initial:.6g}"),
                                  ("nonnegative", "yes" if s.nonnegative else "no")])), f"notes of {s.name}")
        _check(q.setAnnotation(_annotation("state", {"unit": s.unit, "initial": repr(float(s.initial)),
                                                     "nonnegative": str(bool(s.nonnegative)).lower()})),
               f"annotation of {s.name}")

    for p, v in zip(model.parameters, p_vals):
        q = m.createParameter()
        _check(q.setId(p.name), f"parameter {p.name}")
        if p.description:
            q.setName(p.description)
        q.setValue(float(v))
        q.setConstant(p.name not in set_later)
        units[p.name], uid = defs.declared(p.unit, f"parameter {p.name}")
        _check(q.setUnits(uid), f"units of {p.name}")
        rows = [("description", p.description), ("unit", p.unit), ("typical value", f"{p.value:.6g}"),
                ("plausible range", f"{p.low:.6g} - {p.high:.6g}"),
                ("between-patient variation", p.prior + (f" (sd {p.cv:g})" if p.prior != "fixed" else "")),
                ("source", p.source)]
        _check(q.setNotes(_notes(rows)), f"notes of {p.name}")
        _check(q.setAnnotation(_annotation("parameter", {
            "unit": p.unit, "value": repr(float(p.value)), "low": repr(float(p.low)), "high": repr(float(p.high)),
            "prior": p.prior, "cv": repr(float(p.cv)), "source": p.source})), f"annotation of {p.name}")

    for name, expr in model.observables:  # an observable has the unit its expression gives
        units[name] = settle(expr, units)
        q = m.createParameter()
        _check(q.setId(name), f"observable {name}")
        q.setConstant(False)
        _check(q.setUnits(defs(units[name])), f"units of {name}")
        _check(q.setNotes(_notes([("observable", "derived from the states (assignment rule)"),
                                  ("unit", str(units[name]))])), f"notes of {name}")

    # math needs every symbol declared first (parseL3FormulaWithModel resolves names against the model);
    # a rate rule has the unit of its state per day, an event assignment that of its variable
    printer = FormulaPrinter(units, defs)

    def math_of(expr, want: Unit, what: str):
        try:
            return _math(printer(expr, want), m)
        except SBMLExportError as exc:
            raise SBMLExportError(f"{what}: {exc}") from None

    for name, expr in model.observables:
        r = m.createAssignmentRule()
        r.setVariable(name)
        _check(r.setMath(math_of(expr, units[name], f"observable {name}")), f"assignment rule {name}")
    for s, rhs in zip(model.states, model.rhs):
        r = m.createRateRule()
        r.setVariable(s.name)
        _check(r.setMath(math_of(rhs, units[s.name] / day, f"rate of {s.name}")), f"rate rule {s.name}")

    for k, (t, labels, cur) in enumerate(groups):
        ev = m.createEvent()
        ev.setId(f"ev{k}_day_" + _num(t).replace(".", "p").replace("-", "m").replace("+", ""))
        ev.setName("; ".join(dict.fromkeys(labels)))
        ev.setUseValuesFromTriggerTime(True)
        tr = ev.createTrigger()
        tr.setInitialValue(False)
        tr.setPersistent(True)
        _check(tr.setMath(_math(f"time >= {printer.number(t, day)}", m)), f"trigger of event at day {t}")
        for var, expr in cur.items():
            a = ev.createEventAssignment()
            a.setVariable(var)
            _check(a.setMath(math_of(expr, units[var], f"event assignment {var} at day {t}")), f"event assignment {var} at day {t}")

    errors = [x for x in validate_document(doc) if x[0] == "error"]
    if errors:
        raise SBMLExportError("SBML consistency check failed: " + "; ".join(msg for _, msg in errors[:5]))
    return libsbml.writeSBMLToString(doc)


# ----------------------------------------------------------------------------- validation
def validate_document(doc) -> list[tuple[str, str]]:
    """libsbml's consistency checks (all categories, units included) as (severity, message)."""
    import libsbml

    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, True)
    doc.checkConsistency()
    out = []
    for i in range(doc.getNumErrors()):
        err = doc.getError(i)
        sev = {libsbml.LIBSBML_SEV_INFO: "info", libsbml.LIBSBML_SEV_WARNING: "warning"}.get(err.getSeverity(), "error")
        out.append((sev, f"[{err.getErrorId()}] line {err.getLine()}: {err.getShortMessage()}: {err.getMessage().strip()}"))
    return out


def validate(text: str) -> list[tuple[str, str]]:
    """Read SBML text and run libsbml's consistency checks: (severity, message) for every finding."""
    import libsbml

    doc = libsbml.readSBMLFromString(text)
    read = [("error" if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR else "warning", doc.getError(i).getMessage().strip())
            for i in range(doc.getNumErrors())]
    if any(s == "error" for s, _ in read):
        return read
    return read + validate_document(doc)


# ----------------------------------------------------------------------------- libRoadRunner
@dataclass
class RoadRunnerPatients:
    """The exported model in libRoadRunner (CVODE), run one patient at a time.

    For each patient: ``resetAll`` (the SBML's values and event states), the patient's
    initial states and parameters in one ``model.setGlobalParameterValues(indices,
    values)`` call (the states are rate-rule parameters), then ``reset(TIME)`` so that
    the events due at time 0 fire on the patient's values (``resetAll`` fired them on
    the SBML's), then ``simulate`` on the output times. In libroadrunner 2.10
    ``RoadRunner.setValues`` silently did not set parameters, and setting ``init(x)``
    values by name took about 0.4 s each (it regenerates the model). The SBML's own events
    (from :func:`to_sbml`) carry the protocol. ``atol`` is a scalar or one absolute
    tolerance per state (``integrator.setIndividualTolerance``).
    """

    sbml: str
    state_names: list[str]
    parameter_names: list[str]
    rtol: float = 1e-6
    atol: float | np.ndarray = 1e-9
    max_steps: int = 200_000
    h_max: float = 0.0  # largest step in days (0: no limit)

    def __post_init__(self) -> None:
        import roadrunner

        self.rr = rr = roadrunner.RoadRunner(self.sbml)
        rr.setIntegrator("cvode")
        integ = rr.getIntegrator()
        integ.setValue("relative_tolerance", float(self.rtol))
        atol = np.broadcast_to(np.asarray(self.atol, dtype=float), (len(self.state_names),))
        integ.setValue("absolute_tolerance", float(atol.min()))
        integ.setValue("maximum_num_steps", int(self.max_steps))
        integ.setValue("stiff", True)
        if self.h_max > 0:
            integ.setValue("maximum_time_step", float(self.h_max))
        if np.ptp(atol) > 0:
            for sid, a in zip(self.state_names, atol):
                integ.setIndividualTolerance(sid, float(a))
        ids = list(rr.model.getGlobalParameterIds())
        pos = {n: i for i, n in enumerate(ids)}
        missing = [n for n in list(self.state_names) + list(self.parameter_names) if n not in pos]
        if missing:
            raise SBMLExportError(f"roadrunner model lacks {missing[:5]}")
        self._idx = np.array([pos[n] for n in list(self.state_names) + list(self.parameter_names)], dtype=np.int32)
        rr.timeCourseSelections = ["time"] + list(self.state_names)
        self._time_only = int(roadrunner.SelectionRecord.TIME)

    def load_patient(self, y0: np.ndarray, params: np.ndarray) -> None:
        """Time 0 with this patient's states and parameters, the time-0 events applied."""
        rr = self.rr
        rr.resetAll()  # the SBML's values and event states (this also fires the SBML's own time-0 events)
        rr.model.setGlobalParameterValues(self._idx, np.concatenate([np.asarray(y0, dtype=float), np.asarray(params, dtype=float)]))
        rr.reset(self._time_only)  # back to time 0 with the patient's values: the time-0 events fire on them

    def simulate(self, y0: np.ndarray, params: np.ndarray, t_out: np.ndarray) -> np.ndarray:
        """States (T, S) of one patient at ``t_out`` (``t_out[0]`` must be 0, the SBML start)."""
        t_out = np.asarray(t_out, dtype=float)
        if t_out[0] != 0.0:
            raise ValueError("the SBML model starts at time 0: t_out[0] must be 0")
        self.load_patient(y0, params)
        return np.array(self.rr.simulate(times=t_out))[:, 1:]
