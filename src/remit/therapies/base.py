"""The contract between the trial pipeline and a therapy.

A :class:`Therapy` is one package of :mod:`remit.therapies` (``remit/therapies/<id>/``) and
declares:

- ``arm_model``: the schema of its ``[[arms]]`` table (a subclass of :class:`ArmBase` whose
  ``therapy`` field is the therapy's id), with its fields' units in ``units``;
- :meth:`Therapy.plan`: the arm's protocol as timed events that change the model's states and
  parameters only (an :class:`ArmPlan`), and what a patient must have received to belong to the
  per-protocol analysis set;
- :meth:`Therapy.module`: the states, parameters and rate laws it adds to the model, if any;
- ``control``: whether an arm of it is the default reference arm of a trial;
- :meth:`Therapy.observe`: what a trial observes of it beyond the shared observations (e.g. CAR-T's
  cytokine release syndrome), as patient columns of every arm of a trial that gives it, with
  ``trial_states`` the states that observation reads.

Therapies register in :data:`THERAPIES`; the scenario's union of arm schemas and
:func:`arm_plan` are built from the registry, so shared code never names a therapy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from remit.registry import Registry
from remit.schema.types import Items, Model, Text, fail

if TYPE_CHECKING:
    from remit.model.spec import Module, ModelSpec
    from remit.therapies.drugs import Drug

__all__ = ["THERAPIES", "THERAPY_COUNTERS", "ArmBase", "ArmPlan", "Background", "DrugName", "Therapy", "arm_plan",
           "unique_names"]

# the TRIAL-stream counter block of the therapies' own observations (remit.random's layout)
THERAPY_COUNTERS = 15_000_000

DrugName = Annotated[str, Text(1, 60)]
# drugs of the trial's disease continued unchanged beside a therapy (checked against Disease.drugs)
Background = Annotated[tuple[DrugName, ...], Items(0, 3, "drugs", distinct=True)]

_ARM_NAME = Text(
    1, 60, pattern=r"[A-Za-z0-9][A-Za-z0-9 _+./-]*",
    hint="start with a letter or digit and use only letters, digits, spaces and _ + . / -",
)


class ArmBase(Model):
    """Common part of all arms: a unique name (1..60 characters)."""

    DRUG_FIELDS: ClassVar[tuple[str, ...]] = ()  # fields listing drugs of the trial's disease

    name: Annotated[str, _ARM_NAME]

    def check(self, trial) -> tuple[str, str, Any] | None:
        """A problem of this arm given the ``[trial]`` settings, as (field, message, value); None if none."""
        return None

    def check_drugs(self, drugs: Mapping[str, "Drug"]) -> tuple[tuple[str, ...], str, Any] | None:
        """A problem of this arm given its disease's drug table (names already checked), as (field path,
        message, value); None if none."""
        return None


def unique_names(arms: tuple[ArmBase, ...]) -> tuple[ArmBase, ...]:
    seen: dict[str, int] = {}
    for i, arm in enumerate(arms):
        key = arm.name.casefold()
        if key in seen:
            first = seen[key]
            raise fail(f"must be unique ignoring case; arms[{first}] is already "
                       f"named {arms[first].name!r}", at=(i, "name"), value=arm.name)
        seen[key] = i
    return arms


@dataclass(frozen=True)
class ArmPlan:
    """What the engine and the observers need to know about one arm's protocol."""

    schedule: object
    graft_day: float  # NaN when no graft
    organ_toxicity_death: float  # probability at reference frailty
    description: str
    # the per-protocol set: patients alive on ``protocol_day`` (days after randomisation), by when they
    # have received what defines the protocol (``protocol``, in words, e.g. "transplanted")
    protocol_day: float = 0.0
    protocol: str = "randomised"


class Therapy:
    """Base class of the therapy plug-ins; subclasses set the attributes and override :meth:`plan`."""

    id: str = ""
    label: str = ""
    arm_model: type[ArmBase] = ArmBase
    control: bool = False  # an arm of this therapy may be the trial's default reference arm
    units: Mapping[str, str] = {}  # units of the arm's fields by name (for error messages)
    unions: Mapping[str, tuple[str, ...]] = {}  # tagged unions inside the arm: field -> tags
    # a folder of the therapy's own evidence (trials.yaml, mappings/, scenarios/: remit.evidence.store)
    # beside remit's own, for published trials of it that remit's shared evidence file does not hold
    evidence_dir: "str | None" = None

    def plan(self, model: "ModelSpec", arm: ArmBase, drugs: Mapping[str, "Drug"]) -> ArmPlan:
        """The arm's protocol; ``drugs`` is the trial's disease's drug table (``Disease.drugs``)."""
        raise NotImplementedError

    def module(self) -> "Module | None":
        """What the therapy adds to the model (None: it acts through the shared core's states)."""
        return None

    trial_states: tuple[str, ...] = ()  # states observe() reads during the trial

    def observe(self, ctx) -> dict[str, Any]:
        """Patient columns (arrays of ``ctx.n``) of one chunk of arm ``ctx.arm`` (a
        :class:`remit.diseases.base.TrialContext`) in a trial with an arm of this therapy; the same
        columns for every arm of that trial (an arm of another therapy gets the values of "not given").
        Called only for the therapies a trial's arms give."""
        return {}

    def example(self, drugs: Mapping[str, "Drug"]) -> dict[str, Any]:
        """A typical ``[[arms]]`` table of this therapy (without its name) for a disease whose drug
        table is ``drugs`` (the conformance tests run every therapy's example in every disease)."""
        raise NotImplementedError


THERAPIES: Registry[Therapy] = Registry("therapy")


def arm_plan(model: "ModelSpec", arm: ArmBase, drugs: Mapping[str, "Drug"]) -> ArmPlan:
    """The event schedule of any arm (``drugs``: the disease's drug table)."""
    return THERAPIES.get(arm.therapy).plan(model, arm, drugs)
