"""Form fields generated from the pydantic patient schema, and form data back to a patient dict."""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from remit.predict import COMORBIDITIES, patient_models
from remit.schema.types import Range, fmt


@dataclass
class FormField:
    name: str
    label: str
    kind: Literal["number", "select", "checkbox", "multi"]
    unit: str = ""
    required: bool = True
    integer: bool = False
    lo: float | None = None
    hi: float | None = None
    step: str = "any"
    choices: list[tuple[str, str]] = field(default_factory=list)
    default: Any = None

    @property
    def range_text(self) -> str:
        if self.lo is None or self.hi is None:
            return ""
        unit = f" {self.unit}" if self.unit else ""
        return f"{fmt(self.lo)}-{fmt(self.hi)}{unit}"


def _unwrap(annotation):
    """(base type, metadata list, optional?) of an annotation such as Annotated[float, Range(...)] | None."""
    optional = False
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(args) < len(get_args(annotation))
        annotation = args[0]
    meta: list = []
    while get_origin(annotation) is typing.Annotated:
        args = get_args(annotation)
        annotation, meta = args[0], meta + list(args[1:])
    return annotation, meta, optional


def form_fields(disease: str) -> list[FormField]:
    """The fields of the disease's patient form (``disease`` itself excluded)."""
    from remit.diseases import get_disease

    model = patient_models()[disease]
    out: list[FormField] = []
    for name, info in model.model_fields.items():
        if name == "disease":
            continue
        extra = info.json_schema_extra or {}
        label, unit = extra.get("label", name), extra.get("unit", "")
        base, meta, optional = _unwrap(info.annotation)
        fld_meta = list(meta) + list(info.metadata)
        default = None if info.is_required() else info.default
        if name == "prior_treatments":
            drugs = sorted(get_disease(disease).drugs)
            out.append(FormField(name, label, "multi", choices=[(d, d.replace("_", " ")) for d in drugs], default=default,
                                 required=False))
        elif name == "comorbidities":
            out.append(FormField(name, label, "multi", choices=list(COMORBIDITIES.items()), default=default,
                                 required=False))
        elif base is bool:
            out.append(FormField(name, label, "checkbox", default=bool(default), required=False))
        elif get_origin(base) is Literal:
            out.append(FormField(name, label, "select", choices=[(c, c.replace("_", " ")) for c in get_args(base)],
                                 default=default))
        else:
            rng = next((m for m in fld_meta if isinstance(m, Range)), None)
            integer = base is int
            step = extra.get("step")
            out.append(FormField(name, label, "number", unit=unit, required=not optional and info.is_required(),
                                 integer=integer, lo=rng.lo if rng and math.isfinite(rng.lo) else None,
                                 hi=rng.hi if rng and math.isfinite(rng.hi) else None,
                                 step="1" if integer else (str(step) if step else "any"), default=default))
    return out


def parse_form(disease: str, form) -> tuple[dict, dict[str, str]]:
    """Form data (a starlette FormData or a dict of lists) -> (patient dict, errors found before validation)."""
    def get_list(key):
        return form.getlist(key) if hasattr(form, "getlist") else list(form.get(key, []))

    def get_one(key):
        v = get_list(key)
        return v[-1] if v else None

    data: dict[str, Any] = {"disease": disease}
    errors: dict[str, str] = {}
    for f in form_fields(disease):
        if f.kind == "multi":
            data[f.name] = [v for v in get_list(f.name) if v]
        elif f.kind == "checkbox":
            data[f.name] = get_one(f.name) in ("on", "true", "1", "yes")
        elif f.kind == "select":
            v = get_one(f.name)
            if v:
                data[f.name] = v
        else:
            raw = (get_one(f.name) or "").strip()
            if raw == "":
                if f.required:
                    errors[f.name] = f"{f.name}: missing required field"
                continue
            try:
                x = float(raw.replace(",", "."))
            except ValueError:
                errors[f.name] = f"{f.name}: expected a number, got {raw[:30]!r}" + (
                    f" (must be between {f.range_text})" if f.range_text else "")
                continue
            data[f.name] = int(x) if f.integer and x.is_integer() else x
    return data, errors
