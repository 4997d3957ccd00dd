"""Reference pages generated from the code, so they cannot drift from it.

- ``docs/scenario.md``: every scenario field of every disease and therapy, from the pydantic
  models (type, unit, allowed range or choices, default), and each disease's drugs;
- ``docs/model.md``: states, parameters (value, unit, range, prior, source) and equations of
  the shared core, the MSC module and each disease module;
- the per-disease block of ``docs/endpoints.md`` (between the GENERATED markers): every
  endpoint name per disease with its definition.

``remit docs`` rewrites them; a test fails when a committed page differs from the code.
"""

from __future__ import annotations

import math
import typing
from pathlib import Path
from collections.abc import Mapping
from typing import Any, get_args, get_origin

from remit import scenario as sc
from remit.therapies import THERAPIES
from remit.schema.errors import unit_for
from remit.schema.types import Choice, Distribution, Items, Model, Range, Text
from remit.diseases import DISEASES, get_disease

BEGIN, END = "<!-- BEGIN GENERATED: remit docs -->", "<!-- END GENERATED: remit docs -->"


# --------------------------------------------------------------------------
# describing pydantic fields
# --------------------------------------------------------------------------


def _num(x: float) -> str:
    if isinstance(x, float) and (x.is_integer() and abs(x) < 1e6):
        return str(int(x))
    return f"{x:g}" if isinstance(x, float) else str(x)


def _meta(field, kind):
    return next((m for m in field.metadata if isinstance(m, kind)), None)


def _strip(annotation):
    """Unwrap Optional[...] and Annotated[...]; return (type, extra metadata)."""
    meta = []
    while True:
        if get_origin(annotation) is typing.Annotated:
            args = get_args(annotation)
            annotation, meta = args[0], meta + list(args[1:])
        elif get_origin(annotation) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation, meta
            annotation = args[0]
        else:
            return annotation, meta


def _choices(ann, meta) -> tuple[str, ...] | None:
    """The allowed strings of a choice field (a Literal, or a Choice among a registered vocabulary)."""
    among = next((m.among for m in meta if isinstance(m, Choice) and m.among is not None), None)
    if among is not None:
        return tuple(among())
    return tuple(map(str, get_args(ann))) if get_origin(ann) is typing.Literal else None


def describe_field(name: str, field, units: dict[str, str] | None = None) -> dict[str, str]:
    """Type, allowed values, default and unit of one field, in words (``units``: a disease's field units)."""
    ann, extra = _strip(field.annotation)
    meta = list(field.metadata) + extra
    rng = next((m for m in meta if isinstance(m, Range)), None)
    items = next((m for m in meta if isinstance(m, Items)), None)
    text = next((m for m in meta if isinstance(m, Text)), None)
    unit = unit_for([name], units or {})
    if isinstance(ann, type) and issubclass(ann, Distribution):
        lo, hi = ann.LIMITS
        d = ", ".join(f"{k} {_num(v)}" for k, v in ann.DEFAULTS.items())
        kind = "table {mean, sd, min, max}"
        allowed = f"{_num(lo)} to {_num(hi)}; sd > 0; min <= mean <= max"
        return {"type": kind, "allowed": allowed, "default": d or "-", "unit": ann.UNIT or unit}
    if isinstance(ann, type) and issubclass(ann, Model):
        return {"type": f"table ({ann.__name__})", "allowed": "see below", "default": _default(field), "unit": unit}
    union = [a for a in get_args(ann) if isinstance(a, type) and issubclass(a, Model)]
    if union and len(union) == len(get_args(ann)):
        tag = next(k for k in union[0].model_fields if get_origin(union[0].model_fields[k].annotation) is typing.Literal)
        kinds = ", ".join(str(u.model_fields[tag].default) for u in union)
        return {"type": f"table, chosen by `{tag}`", "allowed": kinds, "default": _default(field), "unit": ""}
    parts = [_strip(a)[0] for a in get_args(ann)] if get_origin(ann) is typing.Union else []
    if bool in parts and any(get_origin(a) is tuple for a in parts):  # true/false or a list of names
        items = next((m for a in get_args(ann) for m in _strip(a)[1] if isinstance(m, Items)), None)
        n = f"{items.lo} to {items.hi} " if items else ""
        return {"type": "boolean or list", "allowed": f"true, false, or {n}names, distinct",
                "default": _default(field), "unit": ""}
    choices = _choices(ann, meta)
    if choices is not None:
        return {"type": "choice", "allowed": ", ".join(choices), "default": _default(field), "unit": ""}
    if get_origin(ann) is tuple:
        inner, inner_meta = _strip(get_args(ann)[0])
        inner_choices = _choices(inner, inner_meta)
        what = ", ".join(inner_choices) if inner_choices is not None else "names"
        n = f"{items.lo} to {items.hi} " if items else ""
        distinct = ", distinct" if items and items.distinct else ""
        return {"type": "list", "allowed": f"{n}{what}{distinct}", "default": _default(field), "unit": ""}
    if ann is bool:
        return {"type": "boolean", "allowed": "true, false", "default": _default(field), "unit": ""}
    if ann in (int, float):
        allowed = "any"
        if rng is not None:
            lo = ("> " if rng.lo_open else ">= ") + _num(rng.lo) if math.isfinite(rng.lo) else ""
            hi = ("< " if rng.hi_open else "<= ") + _num(rng.hi) if math.isfinite(rng.hi) else ""
            allowed = " and ".join(x for x in (lo, hi) if x) or "any"
        return {"type": "integer" if ann is int else "number", "allowed": allowed, "default": _default(field), "unit": unit}
    if ann is str:
        allowed = f"{text.lo} to {text.hi} characters" if text else "text"
        return {"type": "string", "allowed": allowed, "default": _default(field), "unit": ""}
    return {"type": str(ann), "allowed": "", "default": _default(field), "unit": unit}


def _default(field) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return "(defaults)"
    v = field.default
    if v is None:
        return "none"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, tuple):
        return "[" + ", ".join(map(str, v)) + "]"
    return _num(v) if isinstance(v, (int, float)) else str(v)


def field_table(model: type, units: dict[str, str] | None = None) -> list[str]:
    rows = ["| field | type | allowed | default | unit |", "|---|---|---|---|---|"]
    for name, f in model.model_fields.items():
        d = describe_field(name, f, units)
        rows.append(f"| `{name}` | {d['type']} | {d['allowed']} | {d['default']} | {d['unit']} |")
    return rows


def field_table_of(model: type, names: tuple[str, ...]) -> list[str]:
    """The rows of ``field_table`` for some of ``model``'s fields only."""
    rows = field_table(model)
    keep = {f"| `{n}` |" for n in names}
    return rows[:2] + [r for r in rows[2:] if any(r.startswith(k) for k in keep)]


def _doc(cls) -> str:
    return " ".join((cls.__doc__ or "").split())


def _nested(model: type, seen: set) -> list[type]:
    """Sub-tables (pydantic models) used by ``model``'s fields, depth first."""
    out = []
    for f in model.model_fields.values():
        ann, _ = _strip(f.annotation)
        cands = [ann] + list(get_args(ann))
        for c in cands:
            c, _ = _strip(c)
            if isinstance(c, type) and issubclass(c, Model) and not issubclass(c, Distribution) and c not in seen:
                seen.add(c)
                out += [c, *_nested(c, seen)]
    return out


# --------------------------------------------------------------------------
# pages
# --------------------------------------------------------------------------


def _union_members(model: type, field: str) -> tuple[str, list[type]]:
    """The tag and the member schemas of the tagged union ``field`` of ``model``."""
    members = [a for a in get_args(_strip(model.model_fields[field].annotation)[0]) if isinstance(a, type)]
    tag = next(k for k in members[0].model_fields if get_origin(members[0].model_fields[k].annotation) is typing.Literal)
    return tag, members


def therapy_tables() -> list[tuple[str, str, type, Mapping[str, str]]]:
    """(therapy id, heading, schema, units) of every therapy's arm table and its sub-tables, in document
    order: each arm, its nested tables, then the members of its tagged unions (e.g. conditioning regimens)."""
    out: list[tuple[str, str, type, Mapping[str, str]]] = []
    seen: set = set()
    for _, therapy in THERAPIES.items():
        arm = therapy.arm_model
        unions = {f: _union_members(arm, f) for f in therapy.unions}
        chosen = {m for _, members in unions.values() for m in members}
        out.append((therapy.id, f"### therapy = \"{therapy.id}\"", arm, therapy.units))
        out += [(therapy.id, f"#### `{sub.__name__}`", sub, therapy.units) for sub in _nested(arm, seen)
                if sub not in chosen]
        for field, (tag, members) in unions.items():
            out += [(therapy.id, f"#### {field}.{tag} = \"{m.model_fields[tag].default}\"", m, therapy.units)
                    for m in members]
    return out


def conditioning_standards() -> list[str]:
    """The standard protocol of each named conditioning regimen (what the regimen means without doses)."""
    from remit.therapies.ahsct.schema import CONDITIONING_SOURCES, STANDARD_CONDITIONING

    out = ["#### Standard conditioning protocols", "",
           "`conditioning = { regimen = \"...\" }` without doses means the regimen's standard protocol; a dose given",
           "in the scenario overrides its entry, and the resolved `spec.toml` of a run lists every dose. `remit sweep`",
           "and the options of `remit predict` use the same table.", "",
           "| regimen | doses | source |", "|---|---|---|"]
    for regimen, doses in STANDARD_CONDITIONING.items():
        text = ", ".join(f"`{k}` = {_num(v)}" for k, v in doses.items())
        out.append(f"| `{regimen}` | {text} | {CONDITIONING_SOURCES[regimen]} |")
    return out + [""]


def conditioning_schedule() -> list[str]:
    """When each conditioning component is given, from the schedules of :mod:`remit.therapies.ahsct.plan`."""
    from remit.therapies.ahsct import plan

    def days(table) -> str:
        return ", ".join(f"{d:+d}" for d in sorted(table))

    rows = [("`cyclophosphamide_mg_per_kg`", days(plan.CY_DAYS) + " (equal doses)", "model state `cy` (its own kinetics)"),
            ("`atg_mg_per_kg` (rabbit)", days(plan.RABBIT_ATG_DAYS) + " (1/12, 1/6, 1/4, 1/4, 1/4 of the dose)",
             "model state `atg`"),
            ("`equine_atg_mg_per_kg` (horse)", days(plan.EQUINE_ATG_DAYS) + " (equal doses)",
             "model state `eatg` (its own half-life and potency)"),
            ("`rituximab_mg`", days(plan.RITUXIMAB_DAYS) + " (halves)", "model state `rtx` (B-cell depletion)"),
            ("`methylprednisolone_mg`", days(plan.MP_DAYS) + " (equal pulses)",
             f"suppresses inflammatory output for {_num(plan.MP_EFFECT_DAYS)} days after the last pulse"),
            ("`fludarabine_mg_per_m2`, BEAM, busulfan, TBI", days([plan.AGENT_DAY]),
             "log-kills of stem cells, lymphocytes, thymus"),
            ]
    out = ["#### When each component is given", "",
           "Days relative to the graft (`graft_day`, default 35 days after mobilisation starts). A regimen",
           "given `equine_atg_mg_per_kg` and no `atg_mg_per_kg` gets no rabbit ATG. TBI's organ toxicity",
           "scales with the lung and kidney doses (`tbi_lung_gy`, `tbi_kidney_gy`: shielding) for their share of it",
           f"({', '.join(f'{k} {_num(v)}' for k, v in plan.TBI_TOXICITY_SHARE.items())}).", "",
           "| component | days | acts through |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return out + [""]


def visits_markdown() -> list[str]:
    """The ``[trial] visits`` section: the notation and each disease's default schedule."""
    from remit.schedule import UNIT_DAYS, UNIT_WORDS

    units = ", ".join(f"`{u}` {UNIT_WORDS[u]}" + (f" ({_num(round(d, 4))} days)" if d != 1 else "")
                      for u, d in UNIT_DAYS.items())
    out = ["### Report visits (`visits`)", "",
           "Each visit is a number and a unit: " + units + ", e.g.", "",
           "    visits = [\"4w\", \"12w\", \"6m\", \"1y\", \"54m\"]", "",
           "Every score, proportion, Kaplan-Meier and mortality endpoint is reported at each visit",
           "(docs/endpoints.md). Each must lie within follow-up, no two on the same day. Without `visits`",
           "a trial uses its disease's default schedule: the sub-annual visits below, every whole year of",
           "follow-up and its end.", "", "| disease | default sub-annual visits |", "|---|---|"]
    for name in DISEASES:
        out.append(f"| `{name}` | {', '.join(f'`{v}`' for v in get_disease(name).visits)} |")
    return out + [""]


def scenario_markdown() -> str:
    out = ["# Scenario reference (generated by `remit docs` from the pydantic models; do not edit by hand)", "",
           "A scenario is a TOML file with a `[trial]` table, a `[population]` table whose fields depend on",
           "`trial.disease`, and one `[[arms]]` table per arm, whose fields depend on `therapy`.",
           "Every value is checked; a bad one stops the run with a one-line error naming the file, the field,",
           "the value and the allowed range (exit code 2).", "", "## `[trial]`", "", _doc(sc.TrialSettings), "",
           *field_table(sc.TrialSettings), "", *visits_markdown(), "## Arms (`[[arms]]`, 1 to 12, distinct names)", ""]
    for _, heading, model, units in therapy_tables():
        out += [f"{heading}", "", _doc(model), "", *field_table(model, units), ""]
    out += conditioning_standards() + conditioning_schedule()
    out += ["## `[[composites]]` (optional, 0 to 8)", "", _doc(sc.CompositeSettings), "",
            *field_table(sc.CompositeSettings), "", "#### A level given as a table", "", _doc(sc.CompositeLevel), "",
            *field_table(sc.CompositeLevel), "", "    [[composites]]", "    name = \"global_rank\"",
            "    hierarchy = [\"death\", \"organ_failure\", { endpoint = \"fvc\", margin = 10 }, \"mrss\"]", ""]
    out += ["## `[model]` (optional)", "", _doc(sc.ModelSettings), "", *field_table(sc.ModelSettings), "",
            "#### `[model.parameters.NAME]`", "", _doc(sc.ParameterValue), "", *field_table(sc.ParameterValue), "",
            "A name must be a parameter of the disease's model, a value inside its range and a `cv` only for a",
            "parameter that varies between patients; otherwise the scenario is refused with the allowed range.", "",
            "    [model.parameters.dmt_resp]", "    value = 0.8", ""]
    out += ["## `[[population.groups]]` (optional, 0 to 8): a mixed cohort", "", _doc(sc.group_class("multiple_sclerosis")),
            "", "Besides the `[population]` fields of the trial's disease (listed below), a group has:", "",
            *field_table_of(sc.group_class("multiple_sclerosis"), ("name", "fraction")), "",
            "The whole cohort's endpoints are in `endpoints.csv`; each group's, computed on its patients alone, in",
            "`subgroups.csv` (the same columns after a first column `group`), and the report adds a table of the",
            "between-arm comparisons per group. A published number of a subgroup is mapped with",
            "`simulated: {..., group: NAME}`. For example, a cohort of relapsing and secondary progressive MS:", "",
            "    [[population.groups]]", "    name = \"relapsing\"", "    fraction = 0.4",
            "    course = \"relapsing_remitting\"", "    relapses_prior_year = { min = 1 }", "",
            "    [[population.groups]]", "    name = \"progressive\"", "    fraction = 0.6",
            "    course = \"secondary_progressive\"", "    edss = { mean = 5.5, sd = 0.8, min = 3.0, max = 6.5 }", ""]
    out += ["## `[population]` by disease", ""]
    for name in DISEASES:
        d = get_disease(name)
        pop = d.population_model
        out += [f"### {d.label} (`disease = \"{name}\"`)", "", _doc(pop), "", *field_table(pop, d.units), ""]
        for sub in _nested(pop, set()):
            out += [f"#### `{sub.__name__}`", "", _doc(sub), "", *field_table(sub, d.units), ""]
        out += ["Conventional drugs (for `drugs`, `background` and prior therapy):", "",
                "| drug | efficacy while given | onset/offset half-life (days) | max years | source |", "|---|---|---|---|---|"]
        for drug in d.drugs.values():
            mx = _num(drug.max_years) if drug.max_years is not None else "-"
            out.append(f"| `{drug.name}` | {drug.efficacy:.2f} | {_num(float(drug.half_life_days))} | {mx} | {drug.source} |")
        out.append("")
    return "\n".join(out) + "\n"


def endpoint_names(endpoint) -> list[str]:
    """The endpoint-table row names an endpoint of a catalog writes."""
    return endpoint.names()


def endpoints_block() -> str:
    out = [BEGIN, "", "## Endpoints per disease (generated by `remit docs` from each disease's catalog)", "",
           "Besides the shared endpoints (`treatment_related_mortality`, `all_cause_mortality`,",
           "`engraftment_day_median`, `cd4_median`, `severe_infections_per_patient`, and the CAR-T rows in trials",
           "with a CAR-T arm), each disease adds:", ""]
    for name in DISEASES:
        d = get_disease(name)
        out += [f"### {d.label} (`{name}`)", "", "| endpoint rows | kind | label | definition |", "|---|---|---|---|"]
        for e in d.endpoints:
            rows = ", ".join(f"`{r}`" for r in endpoint_names(e))
            unit = f" ({e.unit})" if getattr(e, "unit", "") else ""
            out.append(f"| {rows} | {e.summary} | {e.label}{unit} | {' '.join(e.definition.split()) or '-'} |")
        out.append("")
    out.append(END)
    return "\n".join(out)


def _sym(x) -> str:
    return str(x).replace("|", "\\|")


def model_markdown() -> str:
    from remit.model.core import core_module

    out = ["# The model (generated by `remit docs` from remit.model; do not edit by hand)", "",
           "One shared immune core, an MSC module, and one module per disease (`remit.diseases.<disease>.model`).",
           "Time is in days. A disease module adds states, parameters and rate terms, may override a core",
           "parameter with its own value, range and source, and gives the core's target-organ states its own units.",
           "Units follow the grammar and word table of `remit.model.units`; `remit export-sbml` writes them as SBML",
           "unit definitions and checks every rate law for consistent units.", ""]
    mods = [("Shared immune core", core_module())]
    mods += [(t.label, m) for _, t in THERAPIES.items() if (m := t.module()) is not None]
    for name in DISEASES:
        mods.append((get_disease(name).label, get_disease(name).module()))
    for title, m in mods:
        out += [f"## {title} (`{m.name}`)", ""]
        if m.states:
            out += ["| state | unit | initial | description |", "|---|---|---|---|"]
            out += [f"| `{s.name}` | {s.unit} | {_num(float(s.initial))} | {s.description} |" for s in m.states]
            out.append("")
        if m.state_units:
            out += ["Units of earlier modules' states in this disease: "
                    + ", ".join(f"`{k}` in {u}" for k, u in m.state_units.items()) + ".", ""]
        for label, params in (("parameters", m.parameters), ("overrides of core parameters", m.overrides)):
            if not params:
                continue
            out += [f"{len(params)} {label}:", "", "| parameter | value | unit | range | prior | source |", "|---|---|---|---|---|---|"]
            for p in params:
                prior = p.prior + (f" (cv {p.cv:g})" if p.prior != "fixed" else "")
                out.append(f"| `{p.name}` | {p.value:.4g} | {p.unit} | {p.low:.3g} to {p.high:.3g} | {prior} | {_sym(p.source)} |")
            out.append("")
        if m.rates:
            out += ["Rate terms (added to d state/dt):", ""]
            out += [f"- d{k}/dt += `{_sym(v)}`" for k, v in m.rates.items()]
            out.append("")
    out += calibration_markdown()
    return "\n".join(out) + "\n"


def calibration_markdown() -> list[str]:
    """The calibrated defaults: per disease, each fitted quantity's literature value, the range the
    calibration explored, the shipped value and its posterior interval (docs/calibration.md)."""
    from remit.calibration import shipped

    out = ["## Calibrated defaults", "",
           "The values above are the literature (prior) values. Where a disease has a shipped calibration",
           "(`remit calibrate --ship`, see calibration.md) the model runs with the calibrated values below",
           "unless a scenario sets `[model] defaults = \"prior\"`.", ""]
    for name in DISEASES:
        d = get_disease(name)
        doc = shipped.load(name)
        out += [f"### {d.label}", ""]
        if doc is None:
            out += ["Not calibrated: the literature values are used.", ""]
            continue
        out += [f"Fitted to {len(doc['targets'])} published numbers of {shipped.fitted_trials(doc)}.", "",
                "| parameter | literature value | calibration range | calibrated value | posterior 95% | unit | why |",
                "|---|---|---|---|---|---|---|"]
        for p in doc["parameters"]:
            key = p["name"] + ("" if p["field"] == "value" else " (cv)")
            lo, hi = p["posterior_95"]
            rng = p["calibration_prior"]
            out.append(f"| `{key}` | {p['prior_value']:.4g} | {rng['low']:.3g} to {rng['high']:.3g} | {p['point']:.4g} | "
                       f"{lo:.3g} to {hi:.3g} | {p['unit']} | {p['why']} |")
        out.append("")
    return out


def pages(root: Path) -> dict[Path, str]:
    """Every generated page keyed by path (endpoints.md keeps its hand-written part)."""
    ep_path = root / "endpoints.md"
    text = ep_path.read_text(encoding="utf-8") if ep_path.exists() else "# Trial endpoints\n"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + endpoints_block() + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + endpoints_block() + "\n"
    return {root / "scenario.md": scenario_markdown(), root / "model.md": model_markdown(), ep_path: text}


def write_pages(root: Path) -> list[Path]:
    from remit.store import atomic_write_text

    written = []
    for path, text in pages(root).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            atomic_write_text(path, text)
            written.append(path)
    return written


def describe_population(disease: str) -> list[dict[str, Any]]:
    pop = get_disease(disease).population_model
    return [{"field": n, **describe_field(n, f)} for n, f in pop.model_fields.items()]
