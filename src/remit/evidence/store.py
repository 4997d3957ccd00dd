"""Loading the evidence records and the mapping files, with audited access.

Every read of a record's content goes through :func:`record` (also used by the Mapping view
:func:`records` returns), which logs the read for any active :func:`audit` and refuses a
validation-role record inside :func:`calibration_context`: the calibration code path can
then never see a number it will later be judged against.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from collections.abc import Iterator, Mapping as MappingABC

from pydantic import ValidationError

from remit.evidence.schema import (
    ROLES, UNVERIFIED_SUFFIX, EvidenceError, EvidenceRecord, Mapping, describe, disease_of,
)

TRIALS_PACKAGE = "remit.data.evidence"


def folders() -> tuple[Traversable, ...]:
    """Where evidence lies: remit's own (``remit/data/evidence``), then the ``evidence_dir`` of each
    registered disease, then of each registered therapy, that brings its own (e.g. the published CAR-T
    series live in the CAR-T package). Each holds ``trials.yaml`` (records), ``mappings/`` and
    ``scenarios/``, any of them optional."""
    from remit.diseases import DISEASES
    from remit.therapies import THERAPIES

    own = [d.evidence_dir for _, d in (*DISEASES.items(), *THERAPIES.items()) if d.evidence_dir is not None]
    return (resources.files(TRIALS_PACKAGE), *(resources.files(p) if isinstance(p, str) else p for p in own))


def _files(sub: str, suffix: str) -> dict[str, Traversable]:
    """Name (without ``suffix``) -> file, over the ``sub`` folders of every evidence folder (first wins)."""
    out: dict[str, Traversable] = {}
    for folder in folders():
        d = folder.joinpath(sub)
        if d.is_dir():
            for f in sorted(d.iterdir(), key=lambda f: f.name):
                if f.name.endswith(suffix):
                    out.setdefault(f.name[: -len(suffix)], f)
    return out

# --------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------


def parse_records(text: str, source: str = "trials.yaml") -> dict[str, EvidenceRecord]:
    """Validate every record of an evidence YAML text; EvidenceError names the record and field."""
    import yaml

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # the C loader is ~10x faster
    except yaml.YAMLError as exc:
        raise EvidenceError(f"{source}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, list):
        raise EvidenceError(f"{source}: expected a list of records")
    out: dict[str, EvidenceRecord] = {}
    for i, raw in enumerate(data):
        if not isinstance(raw, dict):
            raise EvidenceError(f"{source}: record #{i}: expected a mapping of fields, got {type(raw).__name__}")
        rid = raw.get("id")
        where = f"{source}: record {rid!r} (#{i})" if isinstance(rid, str) else f"{source}: record #{i}"
        try:
            rec = EvidenceRecord.model_validate(raw)
        except ValidationError as exc:
            raise describe(exc, where) from None
        if rec.id in out:
            raise EvidenceError(f"{where}: id: duplicate id (also record #{list(out).index(rec.id)})")
        out[rec.id] = rec
    return out


def _load() -> dict[str, EvidenceRecord]:
    return _load_from(folders())


@lru_cache(maxsize=4)
def _load_from(where: tuple[Traversable, ...]) -> dict[str, EvidenceRecord]:
    out: dict[str, EvidenceRecord] = {}
    for folder in where:
        f = folder.joinpath("trials.yaml")
        if not f.is_file():
            continue
        recs = parse_records(f.read_text(encoding="utf-8"), str(f) if out else "trials.yaml")
        for rid in recs:
            if rid in out:
                raise EvidenceError(f"{f}: record {rid!r}: duplicate id (already in an earlier evidence folder)")
        out.update(recs)
    return out


def roles() -> dict[str, str]:
    """Record id -> role, for routing only (reading no published number)."""
    return {rid: r.role for rid, r in _load().items()}


# --------------------------------------------------------------------------
# audited access
# --------------------------------------------------------------------------

_CALIBRATION = contextvars.ContextVar("remit_evidence_calibration", default=0)
_AUDITS: contextvars.ContextVar[tuple["AccessLog", ...]] = contextvars.ContextVar("remit_evidence_audits", default=())


@dataclass
class AccessLog:
    """The records read (id, role) while an :func:`audit` was active, refused reads included."""

    reads: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [rid for rid, _ in self.reads]

    def of_role(self, role: str) -> list[str]:
        return [rid for rid, r in self.reads if r == role]


@contextmanager
def audit() -> Iterator[AccessLog]:
    """Record every evidence record (and mapping) read inside the block."""
    log = AccessLog()
    token = _AUDITS.set(_AUDITS.get() + (log,))
    try:
        yield log
    finally:
        _AUDITS.reset(token)


@contextmanager
def calibration_context() -> Iterator[None]:
    """The calibration code path: inside, reading a validation-role record raises EvidenceError."""
    token = _CALIBRATION.set(_CALIBRATION.get() + 1)
    try:
        yield
    finally:
        _CALIBRATION.reset(token)


def in_calibration() -> bool:
    return _CALIBRATION.get() > 0


def _check_read(trial_id: str, role: str, what: str) -> None:
    for log in _AUDITS.get():
        log.reads.append((trial_id, role))
    if role == "validation" and in_calibration():
        raise EvidenceError(f"{what} {trial_id!r} has role 'validation' and must not be read by the calibration "
                            "code path (calibration_context)")


def record(trial_id: str) -> EvidenceRecord:
    """The validated record ``trial_id`` (audited; see :func:`calibration_context`)."""
    recs = _load()
    if trial_id not in recs:
        raise EvidenceError(f"unknown evidence id {trial_id!r} (known: {', '.join(sorted(recs))})")
    rec = recs[trial_id]
    _check_read(rec.id, rec.role, "evidence record")
    return rec


class Records(MappingABC[str, EvidenceRecord]):
    """A read-only id -> record view; every value read goes through :func:`record`."""

    def __init__(self, ids: tuple[str, ...]):
        self._ids = ids

    def __getitem__(self, trial_id: str) -> EvidenceRecord:
        if trial_id not in self._ids:
            raise KeyError(trial_id)
        return record(trial_id)

    def __iter__(self):
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"Records({len(self._ids)} ids)"


def records(role: str | None = None, disease: str | None = None) -> Records:
    """Records by id (optionally of one ``role`` and remit ``disease``), file order."""
    if role is not None and role not in ROLES:
        raise EvidenceError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    ids = tuple(rid for rid, r in roles().items()
                if (role is None or r == role) and (disease is None or disease_of(rid) == disease))
    return Records(ids)


def calibration_records(disease: str | None = None) -> dict[str, EvidenceRecord]:
    """Only the role == calibration records (of ``disease``, a remit disease name)."""
    return dict(records("calibration", disease).items())


# --------------------------------------------------------------------------
# mappings and scenarios
# --------------------------------------------------------------------------


def mapped_trials() -> tuple[str, ...]:
    return tuple(sorted(_files("mappings", ".yaml")))


@lru_cache(maxsize=None)
def _mapping(trial_id: str) -> Mapping | None:
    import yaml

    f = _files("mappings", ".yaml").get(trial_id)
    if f is None:
        return None
    where = f"mappings/{trial_id}.yaml"
    try:
        raw = yaml.safe_load(f.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EvidenceError(f"{where}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(raw, dict) or raw.get("trial") != trial_id:
        raise EvidenceError(f"{where}: expected 'trial: {trial_id}' and a list 'endpoints'")
    try:
        return Mapping.model_validate(raw)
    except ValidationError as exc:
        raise describe(exc, where) from None


def mapping(trial_id: str) -> Mapping | None:
    """The reviewed mapping of a trial's published endpoints onto remit's (None: not mapped).
    Audited like a record read."""
    role = roles().get(trial_id)
    if role is not None:
        _check_read(trial_id, role, "mapping of evidence record")
    return _mapping(trial_id)


def base_id(trial_id: str) -> str:
    return trial_id[: -len(UNVERIFIED_SUFFIX)] if trial_id.endswith(UNVERIFIED_SUFFIX) else trial_id


def scenario_names() -> tuple[str, ...]:
    return tuple(sorted(_files("scenarios", ".toml")))


def scenario_name(trial_id: str, entry_scenario: str | None = None) -> str | None:
    """The scenario a mapped trial (entry) is simulated with: the entry's own ``scenario``, the
    mapping's ``scenario``, the trial id, or for an ``-unverified`` twin its base id."""
    if entry_scenario:
        return entry_scenario
    m = _mapping(trial_id)
    if m is not None and m.scenario:
        return m.scenario
    names = scenario_names()
    for cand in (trial_id, base_id(trial_id)):
        if cand in names:
            return cand
    return None


def scenario_text(name: str) -> str:
    f = _files("scenarios", ".toml").get(name)
    if f is None:
        raise EvidenceError(f"no evidence scenario {name!r} (known: {', '.join(scenario_names())})")
    return f.read_text(encoding="utf-8")


def load_trial_scenario(name: str):
    """The TrialSpec of ``scenarios/<name>.toml``."""
    import tomllib

    from remit.scenario import parse_scenario

    try:
        data = tomllib.loads(scenario_text(name))
    except tomllib.TOMLDecodeError as exc:
        raise EvidenceError(f"scenarios/{name}.toml: {exc}") from None
    return parse_scenario(data, f"scenarios/{name}.toml")
