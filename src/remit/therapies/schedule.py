"""Event schedules: what a protocol does to the model, and when.

A protocol never touches the equations; it only adds amounts to states (doses,
infusions), sets parameters (a drug switched on or off) or applies log-kills (a
conditioning agent), at given times in days from the start of treatment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from remit.engine.codes import Event
from remit.model.spec import ModelSpec

EV_ADD, EV_SET_PARAM, EV_LOG_KILL = Event.ADD, Event.SET_PARAM, Event.LOG_KILL  # short names, for readers of schedules


@dataclass(frozen=True)
class Schedule:
    """Time-sorted event arrays consumed by the compiled integrator."""

    t: np.ndarray
    kind: np.ndarray
    idx: np.ndarray
    val: np.ndarray
    pidx: np.ndarray
    labels: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def shifted(self, dt: float) -> "Schedule":
        return Schedule(self.t + dt, self.kind, self.idx, self.val, self.pidx, self.labels)

    def merged(self, other: "Schedule") -> "Schedule":
        t = np.concatenate([self.t, other.t])
        order = np.argsort(t, kind="stable")
        cat = lambda a, b: np.concatenate([a, b])[order]  # noqa: E731
        labels = tuple(np.array(self.labels + other.labels, dtype=object)[order]) if (self.labels or other.labels) else ()
        return Schedule(t[order], cat(self.kind, other.kind), cat(self.idx, other.idx), cat(self.val, other.val), cat(self.pidx, other.pidx), labels)


@dataclass
class ScheduleBuilder:
    """Collects protocol events by state and parameter name."""

    model: ModelSpec
    _events: list[tuple[float, int, int, float, int, str]] = field(default_factory=list)

    def _p(self, name: str | None) -> int:
        return -1 if name is None else self.model.parameter_index(name)

    def dose(self, t: float, state: str, amount: float, per: str | None = None, label: str = "") -> "ScheduleBuilder":
        """Add ``amount`` (times parameter ``per`` of each patient, if given) to ``state`` at day ``t``."""
        self._events.append((float(t), Event.ADD, self.model.state_index(state), float(amount), self._p(per), label or f"dose {state}"))
        return self

    def set(self, t: float, param: str, value: float, label: str = "") -> "ScheduleBuilder":
        """Set parameter ``param`` to ``value`` from day ``t`` on."""
        self._events.append((float(t), Event.SET_PARAM, self.model.parameter_index(param), float(value), -1, label or f"set {param}"))
        return self

    def kill(self, t: float, state: str, logs: float, sensitivity: str | None = None, label: str = "") -> "ScheduleBuilder":
        """Multiply ``state`` by ``exp(-logs * sensitivity)`` at day ``t`` (natural-log kill)."""
        if logs > 0:
            self._events.append((float(t), Event.LOG_KILL, self.model.state_index(state), float(logs), self._p(sensitivity), label or f"kill {state}"))
        return self

    def build(self) -> Schedule:
        ev = sorted(self._events, key=lambda e: e[0])  # stable: same-time events keep their order
        if not ev:
            z = np.zeros(0)
            return Schedule(z, z.astype(np.int64), z.astype(np.int64), z, z.astype(np.int64))
        t, kind, idx, val, pidx, labels = zip(*ev)
        return Schedule(np.array(t), np.array(kind, dtype=np.int64), np.array(idx, dtype=np.int64),
                        np.array(val), np.array(pidx, dtype=np.int64), tuple(labels))
