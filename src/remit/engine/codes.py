"""The integer codes shared by the compiled kernel, the JAX backend and the schedules.

One definition each: :class:`Event` is what a scheduled event does (``Schedule.kind``, built
by :mod:`remit.therapies.schedule`), :class:`Status` is how a patient's integration ended
(``Trajectories.status``). The numba kernel reads both as compile-time constants, so this
module's bytes are part of the compiled-code digest (:mod:`remit.model.codegen`).
"""

from __future__ import annotations

from enum import IntEnum


class Event(IntEnum):
    """What a scheduled event does to the states ``y`` and parameters ``p`` of a patient."""

    ADD = 0  # y[idx] += val * (p[pidx] if pidx >= 0 else 1)
    SET_PARAM = 1  # p[idx] = val
    LOG_KILL = 2  # y[idx] *= exp(-val * (p[pidx] if pidx >= 0 else 1))


class Status(IntEnum):
    """How one patient's integration ended; ``text`` says it in words (run outputs, provenance)."""

    def __new__(cls, code: int, text: str) -> "Status":
        member = int.__new__(cls, code)
        member._value_ = code
        member.text = text
        return member

    OK = 0, "ok"
    MAX_STEPS = 1, "maximum number of steps reached"
    STEP_UNDERFLOW = 2, "step size underflow"
    NOT_FINITE = 3, "non-finite state"
    NEGATIVE_STATE = 4, "negative state (a quantity that must be >= 0 fell below zero)"
