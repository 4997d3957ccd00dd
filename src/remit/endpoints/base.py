"""The contract of an endpoint kind, the per-patient records it reads, and the row schema it returns.

A disease declares its endpoints as instances of the registered kinds (:data:`ENDPOINT_KINDS`:
time to event, annualised rate, score at visits, proportion at visits); the shared safety and
immune endpoints every trial reports are instances too (:data:`remit.endpoints.SHARED`). Each
kind owns, in its own module,

- ``rows(records)``: its endpoint rows (columns :data:`ENDPOINT_COLUMNS`), per arm and, for
  between-arm effects, per comparison ``"<arm> vs <control>"``;
- ``labels()`` and ``digits()``: the display label and decimals of each row name it writes;
- ``figure(view)``: its report figure;
- its power analysis: ``arm_data`` (one arm's per-patient values) and ``analyse`` (effect and
  two-sided p of one replicate trial), with ``test_name`` and ``effect_name``.

The records are two tidy tables: ``patients`` (one row per patient: identity, baseline,
times to events, counts, flags) and ``outcomes`` (one row per patient, endpoint and visit:
``patient_id``, ``endpoint``, ``t_years``, ``value``), which a disease fills with
:class:`remit.diseases.base.VisitOutcomes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import numpy as np
import pandas as pd

from remit.registry import Registry

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["ENDPOINT_COLUMNS", "OUTCOME_COLUMNS", "ALPHA", "EndpointKind", "Records", "FigureView", "ENDPOINT_KINDS",
           "comparison_label", "whole_years", "row"]

ENDPOINT_COLUMNS = ["arm", "endpoint", "timepoint_years", "estimate", "ci_low", "ci_high", "n"]
OUTCOME_COLUMNS = ["patient_id", "endpoint", "t_years", "value"]
ALPHA = 0.05
NAN = float("nan")


def comparison_label(arm: str, control_arm: str) -> str:
    """Arm label used for between-arm rows, e.g. ``"aHSCT vs DMT"``."""
    return f"{arm} vs {control_arm}"


def whole_years(follow_up_years: float) -> int:
    """Number K of whole annual visits after baseline within follow-up."""
    # The epsilon keeps 5.0 from becoming 4 after float arithmetic upstream.
    return max(int(math.floor(float(follow_up_years) + 1e-9)), 0)


def as_float(x) -> float:
    """Coerce to a Python float, mapping None/inf to NaN."""
    if x is None:
        return NAN
    try:
        v = float(x)
    except (TypeError, ValueError):
        return NAN
    return v if math.isfinite(v) else NAN


def row(arm, endpoint, t, est, lo=NAN, hi=NAN, n=0) -> dict:
    """One endpoint row (:data:`ENDPOINT_COLUMNS`); non-finite numbers become NaN."""
    return {"arm": str(arm), "endpoint": endpoint, "timepoint_years": as_float(t), "estimate": as_float(est),
            "ci_low": as_float(lo), "ci_high": as_float(hi), "n": float(n)}


def flags(s: pd.Series) -> np.ndarray:
    """Boolean array with missing values as False (via the nullable dtype,
    which avoids pandas' object-downcasting warning)."""
    return s.astype("boolean").fillna(False).to_numpy(dtype=bool)


# --------------------------------------------------------------------------
# the records endpoints read
# --------------------------------------------------------------------------


def empty_outcomes() -> pd.DataFrame:
    """An outcomes table with no rows (a trial whose disease records no visit outcomes)."""
    return pd.DataFrame({"patient_id": np.array([], np.int64), "endpoint": pd.Categorical([]),
                         "t_years": np.array([], float), "value": np.array([], float)})


@dataclass
class Records:
    """The per-patient tables of a trial: ``patients`` (one row per patient, with ``patient_id`` and
    ``arm``) and ``outcomes`` (long: ``patient_id``, ``endpoint``, ``t_years``, ``value``).

    ``follow_up_years`` is the planned follow-up; ``control_arm`` the arm the between-arm effects
    compare against; ``visits`` the report visits in years after randomisation at which the
    time-to-event and mortality endpoints are read (the scores and proportions are read at the
    visits of their outcome rows); None: every whole year of follow-up.
    """

    patients: pd.DataFrame
    outcomes: pd.DataFrame = field(default_factory=empty_outcomes)
    follow_up_years: float = NAN
    control_arm: str | None = None
    visits: tuple[float, ...] | None = None
    _wide: dict = field(default_factory=dict, init=False, repr=False)
    _arms: dict = field(default_factory=dict, init=False, repr=False)
    _arm_names: list | None = field(default=None, init=False, repr=False)

    @property
    def arms(self) -> list[str]:
        """Arm names in order of first appearance (found once: every kind asks)."""
        if self._arm_names is None:
            self._arm_names = [str(a) for a in pd.unique(self.patients["arm"])]
        return self._arm_names

    @property
    def report_visits(self) -> tuple[float, ...]:
        """``visits`` within follow-up, else every whole year of it."""
        if self.visits is None:
            return tuple(float(k) for k in range(1, whole_years(self.follow_up_years) + 1))
        return tuple(float(t) for t in self.visits if t <= self.follow_up_years + 1e-9)

    @property
    def comparisons(self) -> list[str]:
        """The treatment arms (every arm but the control)."""
        return [a for a in self.arms if a != self.control_arm]

    def subset(self, mask: np.ndarray) -> "Records":
        """The records of the patients where ``mask`` (aligned with ``patients``) is true, for an analysis
        of part of the trial (an analysis set, a subgroup)."""
        ids = self.patients["patient_id"].to_numpy()[mask]
        outcomes = self.outcomes[self.outcomes["patient_id"].isin(ids).to_numpy()].reset_index(drop=True)
        return Records(self.patients[mask].reset_index(drop=True), outcomes, self.follow_up_years, self.control_arm,
                       self.visits)

    def arm(self, arm: str) -> pd.DataFrame:
        """The patients of ``arm``."""
        if arm not in self._arms:
            self._arms[arm] = self.patients[self.patients["arm"] == arm]
        return self._arms[arm]

    def _rows_of(self, name: str) -> np.ndarray:
        """Boolean mask of the outcome rows named ``name`` (on the category codes when the column is categorical)."""
        col = self.outcomes["endpoint"]
        if isinstance(col.dtype, pd.CategoricalDtype):
            cats = col.cat.categories
            if name not in cats:
                return np.zeros(len(col), dtype=bool)
            return col.cat.codes.to_numpy() == cats.get_loc(name)
        return col.to_numpy() == name

    def outcome(self, name: str, patients: pd.DataFrame | None = None) -> pd.DataFrame:
        """Outcome ``name`` as a (patients x visit times) frame: one row per patient of ``patients``
        (default: all, in their order; NaN where a patient has no value), columns the visit times in years."""
        if name not in self._wide:
            rows = self._rows_of(name)
            o = self.outcomes
            r, ids = pd.factorize(o["patient_id"].to_numpy()[rows])  # hashing: linear in the rows
            c, times = pd.factorize(o["t_years"].to_numpy()[rows], sort=True)
            if r.size and np.bincount(r * len(times) + c).max() > 1:
                raise ValueError(f"outcome {name!r} has more than one value for a patient at one visit")
            wide = np.full((len(ids) + 1, len(times)), np.nan)  # the last row: patients without a value
            wide[r, c] = o["value"].to_numpy()[rows]
            self._wide[name] = (pd.Index(ids), np.asarray(times, dtype=float), wide)
        ids, times, wide = self._wide[name]
        who = (self.patients if patients is None else patients)["patient_id"].to_numpy()
        pos = ids.get_indexer(who)  # -1 (the NaN row) where a patient has no value
        return pd.DataFrame(wide[pos], index=pd.Index(who, name="patient_id"), columns=pd.Index(times, name="t_years"))

    def has(self, name: str) -> bool:
        """Whether any outcome row is named ``name``."""
        return bool(self._rows_of(name).any())


@dataclass
class FigureView:
    """What a kind's figure may draw from: the records, the visits table (or its summaries), the
    endpoint rows, and the arm order."""

    records: Records
    visits: Any
    endpoints: pd.DataFrame
    order: Sequence[str]


# --------------------------------------------------------------------------
# the kind contract
# --------------------------------------------------------------------------


class EndpointKind:
    """Base of the endpoint kinds. Subclasses are frozen dataclasses with at least ``name`` and ``label``."""

    kind: ClassVar[str] = ""  # registry id
    section: ClassVar[str] = ""  # report section id prefix
    test_name: ClassVar[str] = ""  # the power analysis' test
    effect_name: ClassVar[str] = ""  # the effect it reports
    timed: ClassVar[bool] = False  # analysed at a whole year (power, design summaries)
    summary: ClassVar[str] = ""  # what it is and how it is estimated, in a few words (generated docs)
    name: str
    label: str
    definition: str

    def rows(self, records: Records) -> list[dict]:
        """Endpoint rows (dicts with :data:`ENDPOINT_COLUMNS`) of every arm and comparison."""
        raise NotImplementedError

    def labels(self) -> dict[str, str]:
        """Endpoint row name -> display label."""
        raise NotImplementedError

    def digits(self) -> dict[str, int]:
        """Endpoint row name -> decimals shown in reports (the CSV keeps full precision)."""
        return {n: 3 for n in self.labels()}

    def names(self) -> list[str]:
        """The endpoint row names this endpoint writes."""
        return list(self.labels())

    def row_types(self) -> dict[str, str]:
        """Row name -> what its estimate is: ``"proportion"``, ``"mean"`` or ``"other"`` (how a published
        value is compared with it)."""
        return {n: "other" for n in self.names()}

    def headline(self) -> list[str]:
        """The row names a terminal summary shows."""
        return self.names()

    def title(self) -> str:
        """The heading of its report section."""
        return self.label

    def effects(self, endpoints: pd.DataFrame, comparisons: Sequence[str]) -> list[dict]:
        """The between-arm effects its report section lists under the figure (label, hr, ci_low, ci_high, p);
        none by default."""
        return []

    def timepoints(self, follow_up_years: float) -> dict[str, float | None]:
        """Row name -> the timepoint (years) a design study reads it at by default; None for a
        between-arm row (it has one timepoint). Names not listed are not design statistics."""
        raise NotImplementedError

    def figure(self, view: FigureView) -> "go.Figure":
        raise NotImplementedError

    # -- power -------------------------------------------------------------------------
    def arm_data(self, records: Records, patients: pd.DataFrame, year: int | None) -> dict[str, np.ndarray]:
        """Per-patient arrays of ``patients`` (one arm) that :meth:`analyse` resamples (NaN: missing)."""
        raise NotImplementedError

    def analyse(self, a0: dict, a1: dict) -> tuple[float, float]:
        """(effect of arm 1 vs arm 0, two-sided p) of one replicate trial."""
        raise NotImplementedError


ENDPOINT_KINDS: Registry[type[EndpointKind]] = Registry("endpoint kind")
