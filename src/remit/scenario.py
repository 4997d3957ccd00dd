"""A whole scenario: the ``[trial]``, ``[population]``, ``[[arms]]`` and ``[model]`` tables as one
validated, immutable :class:`TrialSpec`.

A scenario describes one in-silico trial, e.g. aHSCT versus a disease-modifying drug in
multiple sclerosis::

    [trial]
    name = "MIST-like"
    disease = "multiple_sclerosis"
    seed = 2019
    follow_up_years = 5
    patients_per_arm = 2000

    [population]
    age = { mean = 36, sd = 8, min = 18, max = 55 }
    edss = { mean = 3.3, sd = 1.2, min = 2.0, max = 6.0 }

    [[arms]]
    name = "aHSCT"
    therapy = "ahsct"
    mobilization = { cyclophosphamide_g_per_m2 = 2.0, g_csf = true }
    graft = { source = "peripheral_blood", cd34_per_kg = 5.0e6 }
    conditioning = { regimen = "cy_atg", cyclophosphamide_mg_per_kg = 200, atg_mg_per_kg = 6.0 }

    [[arms]]
    name = "DMT"
    therapy = "conventional"
    drugs = ["natalizumab"]

The ``[population]`` table is the trial's disease's own schema (``Disease.population_model``).
Every problem is reported as a :class:`~remit.errors.ScenarioError` whose text is one line
naming the file, the field path, the offending value and what is allowed, e.g.
``scenario.toml: arms[0].conditioning.atg_mg_per_kg = 40.0: must be between 0 and 15 mg/kg``.

Numbers are strict: a string or a boolean where a number is expected is an error; an integer
is accepted wherever a float is.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, Literal, NamedTuple, Union

import tomli_w
from pydantic import AfterValidator, Discriminator, Field, Tag, ValidationError, model_validator

from remit.diseases import DISEASES, build_model, get_disease
from remit.errors import ScenarioError
from remit.schedule import MAX_VISITS, check_visits, default_visits, schedule_years, visit_days
from remit.therapies import THERAPIES, ArmBase
from remit.therapies.base import unique_names
from remit.schema.errors import translate, type_name
from remit.schema.toml import check_depth, read_toml
from remit.schema.types import CHOICE, Choice, Items, Model, PopulationBase, Range, Text, fail, fmt

__all__ = ["DISEASES", "MAX_SEED", "ScenarioError", "CompositeLevel", "CompositeSettings", "ModelSettings", "ParameterValue", "TrialSettings", "TrialSpec", "load_scenario",
           "parse_scenario", "spec_class"]

MAX_SEED = 2**63 - 1
MAX_GROUPS = 8  # sub-populations of a mixed cohort ([[population.groups]])


# the arm schemas of the registered therapies, told apart by ``therapy``; the tagged unions of the
# schema and their tags (messages leave the tags out of field paths)
Arm = Annotated[Union[tuple(t.arm_model for _, t in THERAPIES.items())], Field(discriminator="therapy")]
UNIONS: dict[str, tuple[str, ...]] = {"arms[]": THERAPIES.ids(),
                                      **{f: tags for _, t in THERAPIES.items() for f, tags in t.unions.items()}}
# units of the arms' fields by name, for messages (a disease's population units take precedence)
ARM_UNITS: dict[str, str] = {k: u for _, t in THERAPIES.items() for k, u in t.units.items()}


# ``per_protocol``: true/false (every endpoint or none) or a list of endpoint names, told apart by type so
# that an error speaks of the one the user wrote
PerProtocol = Annotated[
    Union[Annotated[bool, Tag("all")],
          Annotated[tuple[Annotated[str, Text(1, 60)], ...], Items(1, 64, "endpoints", distinct=True), Tag("endpoints")]],
    Discriminator(lambda v: "all" if isinstance(v, bool) else "endpoints")]
UNIONS["per_protocol"] = ("all", "endpoints")


Enrolment = Literal["prior", "screened"]  # remit.population (prior) or remit.enrolment (screened)


class TrialSettings(Model):
    """The ``[trial]`` table: identity, seed, follow-up (years) and size (patients per arm).

    ``control_arm`` names the reference arm for hazard ratios; when omitted
    it resolves to the last conventional arm, else the last arm. ``visits`` lists the times after
    randomisation at which the endpoints are reported (:mod:`remit.schedule`), e.g.
    ``["4w", "12w", "6m", "1y"]``; when omitted, the disease's default schedule. ``per_protocol``
    names the endpoints (of the disease's catalog or the scenario's composites) analysed in the
    per-protocol set, the patients alive when their arm's protocol is complete (transplanted, at least 9
    of 12 pulses, every MSC dose; docs/endpoints.md), instead of intention to treat; ``true``: all of them.
    ``enrolment`` is how candidates are found: ``prior`` (drawn from the priors, burned in, kept if
    they meet the criteria) or ``screened`` (proposed where a pilot says the criteria are met, then
    corrected to the same target; :mod:`remit.enrolment`, docs/enrolment.md).
    """

    name: Annotated[str, Text(1, 200)]
    disease: Annotated[str, Choice(among=DISEASES.ids)]
    seed: Annotated[int, Range(0, MAX_SEED)]
    follow_up_years: Annotated[float, Range(0, 30, lo_open=True)]
    patients_per_arm: Annotated[int, Range(1, 10_000_000)]
    control_arm: Annotated[str, Text(1, 60)] | None = None
    # report visits after randomisation ("4w", "6m", "1y", ...; remit.schedule); None: the disease's default
    visits: Annotated[tuple[str, ...], Items(1, MAX_VISITS, "visits")] | None = None
    # endpoints analysed in the per-protocol set instead of intention to treat (true: every endpoint)
    per_protocol: PerProtocol = False
    enrolment: Annotated[Enrolment, CHOICE] = "prior"


class CompositeLevel(Model):
    """One level of a composite's hierarchy given as a table: ``endpoint`` (``death``, a
    time-to-event or a score endpoint of the disease) and, for a score, the ``margin`` (in the
    score's units) by which one patient's change from baseline must beat the other's."""

    endpoint: Annotated[str, Text(1, 60)]
    margin: Annotated[float, Range(0, 1000)] = 0.0


class CompositeSettings(Model):
    """A ``[[composites]]`` table: a hierarchical composite endpoint (:mod:`remit.endpoints.composite`),
    analysed by the win ratio, net benefit and Finkelstein-Schoenfeld test against the control arm.
    ``hierarchy`` lists its levels, most important first: ``"death"``, the name of a time-to-event
    endpoint of the disease (e.g. ``"organ_failure"``), or of a score (e.g. ``"fvc"``, compared on the
    change from baseline at the last visit both patients have); a table ``{ endpoint = "fvc", margin = 10 }``
    sets a score's margin."""

    name: Annotated[str, Text(1, 40, pattern=r"^[a-z][a-z0-9_]*$", hint="be lowercase letters, digits and _, starting with a letter")]
    label: Annotated[str, Text(1, 120)] | None = None
    hierarchy: Annotated[tuple[Union[Annotated[str, Text(1, 60)], CompositeLevel], ...], Items(1, 8, "levels")]


ModelDefaults = Literal["calibrated", "prior"]


class ParameterValue(Model):
    """One model parameter set by the scenario: its typical (population) value and/or its
    between-patient spread (``cv``, the log- or logit-sd of its prior), in the parameter's
    own units (``remit model --disease D`` lists them with their ranges)."""

    value: float | None = None
    cv: float | None = None


class ModelSettings(Model):
    """The ``[model]`` table. ``defaults``: ``calibrated`` (the parameter values fitted by
    ``remit calibrate`` and shipped with remit, where the disease has them) or ``prior`` (the
    literature values before calibration). ``[model.parameters.NAME]`` sets ``value`` and/or
    ``cv`` of single parameters on top of those defaults."""

    defaults: Annotated[ModelDefaults, CHOICE] = "calibrated"
    parameters: dict[str, ParameterValue] = Field(default_factory=dict)


def _did_you_mean(name: str, names) -> str:
    """"; did you mean 'x'?" for the closest of ``names`` to a misspelt ``name``, or nothing."""
    near = difflib.get_close_matches(name, list(names), n=1, cutoff=0.75)
    return f"; did you mean '{near[0]}'?" if near else ""


def _check_model(spec: "TrialSpec") -> None:
    """Parameters set in ``[model.parameters]`` exist in the disease's model and stay in range."""
    if not spec.model.parameters:
        return
    disease = spec.trial.disease
    model = build_model(disease, calibrated=False)
    names = model.parameter_names
    for name, pv in spec.model.parameters.items():
        at = ("model", "parameters", name)
        if name not in names:
            raise fail(f"is not a parameter of the {disease} model (`remit model --disease {disease}` lists them)"
                       f"{_did_you_mean(name, names)}", at=at)
        p = model.parameter(name)
        if pv.value is None and pv.cv is None:
            raise fail("sets neither value nor cv", at=at)
        for field in ("value", "cv"):
            x = getattr(pv, field)
            why = None if x is None else p.problem(field, x, fmt)
            if why:
                raise fail(why, at=(*at, field), value=x)


class Subpopulation(NamedTuple):
    """One group of a mixed cohort: its name, its fraction of every arm, and the scenario of its patients."""

    name: str
    fraction: float
    spec: "TrialSpec"


class TrialSpec(Model):
    """A fully validated scenario; ``trial.control_arm`` is always resolved."""

    trial: TrialSettings
    population: PopulationBase = Field(default_factory=PopulationBase)
    arms: Annotated[tuple[Arm, ...], Items(1, 12, "arms"), AfterValidator(unique_names)]
    model: ModelSettings = Field(default_factory=ModelSettings)
    composites: Annotated[tuple[CompositeSettings, ...], Items(0, 8, "composites")] = ()

    @model_validator(mode="after")
    def _cross_check(self) -> "TrialSpec":
        _check_groups(self)
        _check_drugs(self)
        _check_model(self)
        _check_composites(self)
        _check_per_protocol(self)
        if self.trial.visits is not None:
            problem = check_visits(self.trial.visits, self.trial.follow_up_years)
            if problem is not None:
                raise fail(problem[1], at=("trial", "visits", problem[0]), value=self.trial.visits[problem[0]])
        for i, arm in enumerate(self.arms):
            problem = arm.check(self.trial)
            if problem is not None:
                field, why, value = problem
                raise fail(why, at=("arms", i, field), value=value)
        wanted = self.trial.control_arm
        if wanted is None:
            controls = [a for a in self.arms if THERAPIES.get(a.therapy).control]
            resolved = (controls or list(self.arms))[-1].name
        else:
            matches = [a.name for a in self.arms if a.name.casefold() == wanted.casefold()]
            if not matches:
                raise fail(f"must be one of {', '.join(self.arm_names)} (the arm names)",
                            at=("trial", "control_arm"), value=wanted)
            resolved = matches[0]
        if resolved != wanted:
            # Store the resolved name so that to_toml() round-trips exactly;
            # self is still under construction, hence the frozen-bypass.
            trial = self.trial.model_copy(update={"control_arm": resolved})
            object.__setattr__(self, "trial", trial)
        return self

    @property
    def visit_years(self) -> tuple[float, ...]:
        """The report visits in years after randomisation, sorted (``trial.visits``, else the
        disease's default schedule: :func:`remit.schedule.default_visits`)."""
        if self.trial.visits is None:
            return default_visits(self.trial.follow_up_years, get_disease(self.trial.disease).visits)
        return schedule_years(visit_days(v) for v in self.trial.visits)

    @property
    def subpopulations(self) -> tuple["Subpopulation", ...]:
        """The groups of a mixed cohort (``[[population.groups]]``), each with its fraction of every arm and
        a scenario whose ``[population]`` is the group's; empty when the cohort is not mixed."""
        out = []
        for g in getattr(self.population, "groups", ()):
            pop = self.population.model_copy(update={**_group_fields(self.population, g), "groups": ()})
            out.append(Subpopulation(g.name, g.fraction, self.model_copy(update={"population": pop})))
        return tuple(out)

    @property
    def catalog(self) -> tuple:
        """The endpoints this trial reports: its disease's catalog, then the scenario's composites."""
        from remit.endpoints.composite import Composite

        disease = get_disease(self.trial.disease)
        return (*disease.endpoints, *(Composite.declared(c.name, c.label, _levels(c), disease) for c in self.composites))

    @property
    def per_protocol_endpoints(self) -> tuple:
        """The endpoints (of ``catalog`` and the shared ones) analysed in the per-protocol set."""
        from remit.endpoints import SHARED

        chosen = self.trial.per_protocol
        every = (*self.catalog, *SHARED)
        if isinstance(chosen, bool):
            return every if chosen else ()
        return tuple(e for e in every if e.name in chosen)

    @property
    def arm_names(self) -> tuple[str, ...]:
        """Arm names in file order."""
        return tuple(arm.name for arm in self.arms)

    @property
    def control(self) -> ArmBase:
        """The reference arm for hazard ratios (``trial.control_arm``)."""
        return self.arm(self.trial.control_arm or "")

    def arm(self, name: str) -> ArmBase:
        """The arm called ``name`` (ignoring case); KeyError if there is none."""
        for arm in self.arms:
            if arm.name.casefold() == name.casefold():
                return arm
        raise KeyError(name)

    def to_toml(self) -> str:
        """The fully resolved scenario (all defaults filled in) as TOML text."""
        body = tomli_w.dumps(self.model_dump(mode="json", exclude_none=True))
        return "# remit scenario, fully resolved (all defaults filled in)\n" + body

    def with_overrides(
        self, patients_per_arm: int | None = None, seed: int | None = None,
        parameters: Mapping[str, Mapping[str, float]] | None = None, defaults: str | None = None,
        enrolment: str | None = None,
    ) -> "TrialSpec":
        """A re-validated copy with the given trial settings replaced (None: keep); ``parameters``
        (name -> {value, cv}) are merged into ``[model.parameters]``, ``defaults`` replaces
        ``model.defaults``."""
        updates = {"patients_per_arm": patients_per_arm, "seed": seed, "enrolment": enrolment}
        updates = {k: v for k, v in updates.items() if v is not None}
        data = self.model_dump(mode="python")
        data["trial"].update(updates)
        if parameters:
            merged = dict(data["model"]["parameters"])
            for name, upd in parameters.items():
                merged[name] = {**merged.get(name, {}), **{k: float(v) for k, v in upd.items()}}
            data["model"]["parameters"] = merged
        if defaults is not None:
            data["model"]["defaults"] = defaults
        return _validate(data, "<overrides>")


# --------------------------------------------------------------------------
# Loading and error translation
# --------------------------------------------------------------------------


def load_scenario(path: str | os.PathLike[str]) -> TrialSpec:
    """Read, parse and validate a TOML scenario file; raise ScenarioError on any problem."""
    return parse_scenario(read_toml(path, "scenario"), os.fspath(path))


def parse_scenario(data: Mapping[str, Any], source: str = "<scenario>") -> TrialSpec:
    """Validate an already parsed scenario (a dict as returned by tomllib)."""
    if not isinstance(data, Mapping):
        raise ScenarioError(source, f"expected a table at top level, got {type_name(data)}")
    check_depth(data, source)
    return _validate(dict(data), source)


def _levels(c: CompositeSettings) -> tuple[tuple[str, float], ...]:
    return tuple((x, 0.0) if isinstance(x, str) else (x.endpoint, x.margin) for x in c.hierarchy)


def _check_composites(spec: "TrialSpec") -> None:
    """Each level names death, a time-to-event or a score endpoint of the disease, once; a margin only
    for a score; composite names are distinct and clash with no endpoint of the disease."""
    from remit.endpoints.composite import level_choices

    disease = get_disease(spec.trial.disease)
    choices = level_choices(disease)
    taken = {n for e in disease.endpoints for n in [e.name, *e.names()]}
    seen_names: set[str] = set()
    for i, c in enumerate(spec.composites):
        if c.name in taken or c.name in seen_names:
            raise fail("is already the name of an endpoint or composite of this trial", at=("composites", i, "name"),
                       value=c.name)
        seen_names.add(c.name)
        seen: set[str] = set()
        for j, (name, margin) in enumerate(_levels(c)):
            at = ("composites", i, "hierarchy", j) + (() if isinstance(c.hierarchy[j], str) else ("endpoint",))
            if name not in choices:
                raise fail(f"must be one of {', '.join(choices)} (death, the time-to-event and score endpoints of "
                           f"{spec.trial.disease})", at=at, value=name)
            if name in seen:
                raise fail("is listed twice in the hierarchy", at=at, value=name)
            seen.add(name)
            if margin and choices[name] != "score":
                raise fail(f"sets a margin, which only a score level has ({name} is a time to event)",
                           at=("composites", i, "hierarchy", j, "margin"), value=margin)


def _check_groups(spec: "TrialSpec") -> None:
    """Groups have distinct names and fractions that add up to 1, and each group's population (the
    trial-wide one with the group's fields in place) passes the disease's own checks."""
    groups = getattr(spec.population, "groups", ())
    if not groups:
        return
    names = [g.name.casefold() for g in groups]
    for i, g in enumerate(groups):
        if names.index(g.name.casefold()) != i:
            raise fail("is the name of an earlier group", at=("population", "groups", i, "name"), value=g.name)
    total = math.fsum(g.fraction for g in groups)
    if abs(total - 1.0) > 1e-6:
        shares = " + ".join(f"{g.fraction:g}" for g in groups)
        raise fail(f"must add up to 1 over the groups ({shares} = {total:g})",
                   at=("population", "groups", len(groups) - 1, "fraction"), value=groups[-1].fraction)
    resolved = []
    for i, g in enumerate(groups):
        try:  # the group's schema is the disease's [population] with name and fraction: one validation checks both
            resolved.append(type(g).model_validate({**_group_fields(spec.population, g), "name": g.name,
                                                    "fraction": g.fraction}))
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            ctx = err.get("ctx") or {}
            where = (*err["loc"], *ctx.get("at", ()))
            raise fail(ctx.get("detail", err["msg"]), at=("population", "groups", i, *where),
                       value=ctx.get("value", err.get("input"))) from None
    # every field of a group filled in (its own or the trial-wide value), so that to_toml() round-trips;
    # self is still under construction, hence the frozen-bypass
    object.__setattr__(spec, "population", spec.population.model_copy(update={"groups": tuple(resolved)}))


def _group_fields(population, group) -> dict[str, Any]:
    """The ``[population]`` fields of a group's patients: the trial-wide ones, replaced by the group's own."""
    given = group.model_fields_set - {"name", "fraction"}
    return {f: getattr(group if f in given else population, f) for f in type(population).model_fields if f != "groups"}


def _check_per_protocol(spec: "TrialSpec") -> None:
    """``trial.per_protocol`` lists endpoints the trial reports (by their catalog name)."""
    chosen = spec.trial.per_protocol
    if isinstance(chosen, bool):
        return
    from remit.endpoints import SHARED

    names = [e.name for e in (*spec.catalog, *SHARED)]
    for i, name in enumerate(chosen):
        if name not in names:
            raise fail(f"must be one of {', '.join(names)} (the endpoints of this trial){_did_you_mean(name, names)}",
                       at=("trial", "per_protocol", i), value=name)


def _check_drugs(spec: "TrialSpec") -> None:
    """Conventional drugs must be ones the trial's disease knows (``Disease.drugs``)."""
    known = get_disease(spec.trial.disease).drugs
    names = ", ".join(sorted(known))
    where: list[tuple[tuple[str | int, ...], tuple[str, ...]]] = []
    for i, arm in enumerate(spec.arms):
        for f in arm.DRUG_FIELDS:
            where.append((("arms", i, f), getattr(arm, f)))
    for f in ("prior_therapy",):
        if hasattr(spec.population, f):
            where.append((("population", f), getattr(spec.population, f)))
            for i, g in enumerate(getattr(spec.population, "groups", ())):
                if f in g.model_fields_set:
                    where.append((("population", "groups", i, f), getattr(g, f)))
    for at, drugs in where:
        for j, d in enumerate(drugs):
            if d not in known:
                raise fail(f"must be one of {names} (the {spec.trial.disease} drugs)", at=(*at, j), value=d)
    for i, arm in enumerate(spec.arms):
        if (problem := arm.check_drugs(known)) is not None:
            path, message, value = problem
            raise fail(message, at=("arms", i, *path), value=value)


@lru_cache(maxsize=None)
def group_class(disease: str) -> type:
    """The schema of one ``[[population.groups]]`` table: the disease's ``[population]`` fields, each
    optional and replacing the trial-wide value where given, plus the group's ``name`` and ``fraction``."""
    return _generated(f"Group_{disease}", get_disease(disease).population_model, __doc__=_GROUP_DOC,
                      name=(Annotated[str, Text(1, 40, pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
                                                hint="be letters, digits and _, starting with a letter")], ...),
                      fraction=(Annotated[float, Range(0, 1, lo_open=True)], ...))


def _generated(model_name: str, base: type, /, **fields) -> type:
    """A pydantic model ``model_name`` derived from ``base`` with ``fields`` (a field may be called
    ``name``), registered in this module so that specs pickle by reference (:func:`__getattr__` rebuilds
    it in a fresh process)."""
    from pydantic import create_model

    cls = create_model(model_name, __base__=base, __module__=__name__, **fields)
    globals()[model_name] = cls
    return cls


@lru_cache(maxsize=None)
def population_class(disease: str) -> type:
    """The ``[population]`` schema of a trial of ``disease``: the disease's own fields and ``groups``."""
    return _generated(f"Population_{disease}", get_disease(disease).population_model,
                      groups=(Annotated[tuple[group_class(disease), ...], Items(0, MAX_GROUPS, "groups")], ()))


_GROUP_DOC = """A ``[[population.groups]]`` table: one sub-population of a mixed cohort, enrolling ``fraction`` (0..1)
of every arm (the fractions of all groups add up to 1; each arm gets the same share of each group, as a
randomisation stratified by group would give). Any ``[population]`` field given here replaces the trial-wide
value for this group's patients (a distribution or range is replaced as a whole); the others are the
trial-wide ones. ``name`` appears in the patients table's ``group`` column."""


@lru_cache(maxsize=None)
def spec_class(disease: str) -> type["TrialSpec"]:
    """The TrialSpec whose ``population`` is the disease's own schema (with its ``groups``)."""
    pop = population_class(disease)
    return _generated(f"TrialSpec_{disease}", TrialSpec, population=(pop, Field(default_factory=pop)))


_CLASSES = {"TrialSpec_": spec_class, "Population_": population_class, "Group_": group_class}


def __getattr__(name: str) -> Any:
    for prefix, make in _CLASSES.items():
        if name.startswith(prefix) and name[len(prefix):] in DISEASES:
            return make(name[len(prefix):])
    raise AttributeError(name)


def _validate(data: dict[str, Any], source: str) -> TrialSpec:
    trial = data.get("trial")
    disease = trial.get("disease") if isinstance(trial, Mapping) else None
    known = isinstance(disease, str) and disease in DISEASES
    cls = spec_class(disease) if known else TrialSpec
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        units = {**ARM_UNITS, **(get_disease(disease).units if known else {})}
        raise translate(exc, source, UNIONS, units) from exc
    except RecursionError:
        raise ScenarioError(source, "scenario is nested too deeply") from None
