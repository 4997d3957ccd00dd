"""Conventional (maintenance) therapy as model events: effect only while given.

Each drug is described by its relapse-rate reduction against placebo in its pivotal
trial (converted to a potency z = -ln(1 - efficacy) that adds across drugs and that a
patient's responsiveness ``dmt_resp`` scales), how fast its effect comes and goes, and
any cell depletion it causes. Sources are the pivotal trials named in each entry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from remit.schedule import YEAR
from remit.therapies.schedule import ScheduleBuilder


@dataclass(frozen=True)
class Drug:
    name: str
    efficacy: float  # fractional relapse-rate reduction vs placebo (the ODE's lesion-formation inhibition)
    half_life_days: float  # onset/offset half-life of the pharmacodynamic effect
    source: str
    b_depletion_per_day: float = 0.0  # anti-CD20 B-cell depletion rate while given
    pulse_state: str | None = None  # state dosed at each pulse (cytotoxic / depleting drugs)
    pulse_amount: float = 0.0
    pulse_days: tuple[float, ...] = ()  # days from start of the drug
    max_years: float | None = None  # drug stopped after this time (cumulative toxicity)
    pulse_per: str | None = None  # parameter scaling each pulse per patient, e.g. "bsa_per_kg" for mg/m2 doses
    first_pulse_amount: float | None = None  # a first pulse of its own size (None: like the others)
    # the agent each pulse really gives, when the pulses are its own doses (an arm may then give its own
    # pulse schedule in mg/m2: ConventionalArm.pulses); None when the pulses stand for another drug
    pulse_agent: str | None = None

    @property
    def potency(self) -> float:
        return -math.log(1.0 - self.efficacy)




def pulsed(d: Drug, mg_per_m2: float, count: int, every_days: float, first_mg_per_m2: float | None = None) -> Drug:
    """``d`` (whose pulses are doses of its own agent) given as ``count`` pulses of ``mg_per_m2`` (per patient,
    through the body surface) every ``every_days``, the first of ``first_mg_per_m2`` if given; its effect lasts
    one interval past the last pulse."""
    days = tuple(every_days * k for k in range(count))
    return replace(d, pulse_amount=mg_per_m2, first_pulse_amount=first_mg_per_m2, pulse_per="bsa_per_kg",
                   pulse_days=days, max_years=(days[-1] + every_days) / YEAR)


def drug_end(d: Drug, start: float, stop: float | None) -> float:
    """Day a drug started at ``start`` is stopped: at ``stop`` (None: never) or when it reaches its maximal
    duration (cumulative toxicity), whichever comes first."""
    never = math.inf if stop is None else stop
    return min(never, start + d.max_years * 365.25) if d.max_years is not None else never


def pulses_given(d: Drug, start: float, stop: float | None) -> list[float]:
    """Days of the pulses of a drug started at ``start`` that are given before it stops (``drug_end``)."""
    end = drug_end(d, start, stop)
    return [start + day for day in d.pulse_days if start + day < end]


def add_drugs(builder: ScheduleBuilder, drug_table: Mapping[str, Drug], drugs: tuple[str, ...] | list[str], start: float,
              stop: float | None = None) -> ScheduleBuilder:
    """Switch maintenance therapy to ``drugs`` (names in ``drug_table``) at day ``start``, replacing any earlier
    therapy. Everything stops at ``stop``; a drug with a maximal duration (cumulative toxicity) stops alone
    when it reaches it, and the others go on."""
    table = [drug_table[d] for d in drugs]
    ends = [drug_end(d, start, stop) for d in table]
    half_life = max((d.half_life_days for d in table), default=14.0)
    builder.set(start, "k_dmt", math.log(2) / half_life, "DMT kinetics")
    for t in sorted({start, *(e for e in ends if math.isfinite(e))}):
        active = [d for d, e in zip(table, ends) if e > t]
        what = ("DMT start: " + "+".join(drugs)) if t == start else ("DMT now: " + ("+".join(d.name for d in active) or "none"))
        builder.set(t, "dmt_target", sum(d.potency for d in active), what)
        b_dep = max((d.b_depletion_per_day for d in active), default=0.0)
        builder.set(t, "b_depletion", b_dep, "anti-CD20 on" if b_dep else "no B depletion")
    for d in table:
        for k, day in enumerate(pulses_given(d, start, stop)):
            amount = d.first_pulse_amount if k == 0 and d.first_pulse_amount is not None else d.pulse_amount
            builder.dose(day, d.pulse_state, amount, per=d.pulse_per, label=f"{d.name} pulse")
    return builder


def stop_all(builder: ScheduleBuilder, t: float) -> ScheduleBuilder:
    """Stop every maintenance therapy at day ``t``."""
    builder.set(t, "dmt_target", 0.0, "DMT stop")
    builder.set(t, "b_depletion", 0.0, "DMT stop")
    return builder
