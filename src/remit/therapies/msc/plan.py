"""Mesenchymal stromal cell (MSC) therapy as model events: infusions of short-lived cells.

An MSC arm gives ``schedule.doses`` infusions (or injections) of ``dose_cells_per_kg``
cells, the first on day 0 and then every ``schedule.interval_days`` days. Each dose is
added, in units of 1e6 cells/kg, to the compartment its route reaches (see
:data:`ROUTES`): intravenous cells are trapped in the lungs and die within about a day,
locally injected cells stay at the site for weeks, intrathecal cells sit in the CSF
for days. The cells' paracrine effect, which outlasts them and saturates in dose, is
modelled in :mod:`remit.therapies.msc.model`.

The cell source scales the dose to bone-marrow-MSC equivalents (``potency``) and the
cells' survival (``persistence``, set through the model parameter ``msc_persist``).
No randomised human trial compares sources head to head, so both factors are 1; the
in vitro differences that exist are cited beside each entry.

MSC infusions are safe: a meta-analysis of clinical trials found an association only
with transient fever, none with infection, malignancy or death (Lalu et al. 2012
PLoS One 7:e47559, SafeCell), so the plan carries no organ-toxicity death risk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from remit.model.spec import ModelSpec
from remit.therapies.base import ArmPlan
from remit.therapies.schedule import ScheduleBuilder

CELLS_UNIT = 1.0e6  # model states count cells in 1e6 cells/kg
DOSE_RANGE = (1.0e4, 1.0e9)  # cells/kg accepted by the scenario
MAX_DOSES = 52
ORGAN_TOXICITY_DEATH = 0.0  # Lalu et al. 2012 PLoS One 7:e47559: no association with death


@dataclass(frozen=True)
class Source:
    """Where the cells come from, relative to bone-marrow MSC."""

    potency: float  # paracrine potency per cell (dose multiplier)
    persistence: float  # survival of the infused cells (divides their clearance rates)
    source: str


SOURCES: dict[str, Source] = {
    "bone_marrow": Source(1.0, 1.0,
                          "reference source: most clinical experience, e.g. MS (Connick et al. 2012 Lancet Neurol 11:150; "
                          "MESEMS, Uccelli et al. 2021 Lancet Neurol 20:917) and steroid-resistant GvHD (Le Blanc et al. "
                          "2008 Lancet 371:1579)"),
    "adipose": Source(1.0, 1.0,
                      "modelling assumption: no human head-to-head data; set equal. In vitro comparisons conflict: adipose "
                      "MSC suppressed lymphocyte proliferation more per cell in Melief et al. 2013 Stem Cells Transl Med 2:455; "
                      "few direct comparisons exist (review: Mattar & Bieback 2015 Front Immunol 6:560). Clinical adipose "
                      "products: Cx611 IV in RA (Alvaro-Gracia et al. 2017 Ann Rheum Dis 76:196), darvadstrocel local in "
                      "perianal Crohn's fistula (ADMIRE-CD, Panes et al. 2016 Lancet 388:1281)"),
    "umbilical_cord": Source(1.0, 1.0,
                             "modelling assumption: no human head-to-head data; set equal. In vitro, umbilical-cord MSC "
                             "proliferate faster and are thought less immunogenic than bone-marrow MSC (review: "
                             "Nagamura-Inoue & He 2014 World J Stem Cells 6:195); no clinical evidence of longer survival "
                             "or greater effect"),
}


@dataclass(frozen=True)
class Route:
    """Fraction of each dose reaching each cell compartment of the model."""

    systemic: float  # -> msc_sys (lung-trapped after IV)
    local: float  # -> msc_local (injection site)
    cns: float  # -> msc_cns (cerebrospinal fluid)
    source: str

    def fractions(self) -> dict[str, float]:
        return {"msc_sys": self.systemic, "msc_local": self.local, "msc_cns": self.cns}


ROUTES: dict[str, Route] = {
    "intravenous": Route(1.0, 0.0, 0.0,
                         "IV MSC first accumulate in the lungs, where most die within a day (Eggenhofer et al. 2012 Front "
                         "Immunol 3:297; human studies: Sanchez-Diaz et al. 2021 J Clin Med 10:2925)"),
    "local": Route(0.0, 1.0, 0.0,
                   "intramuscular, intra-articular, intradermal and intralesional MSC lack systemic biodistribution "
                   "(Sanchez-Diaz et al. 2021 J Clin Med 10:2925)"),
    "intrathecal": Route(0.2, 0.0, 0.8,
                         "modelling assumption: most cells stay in the CSF for days; about a fifth reach the circulation "
                         "(CSF drains to blood); no human viability data"),
}


def _check(arm) -> tuple[Source, Route, int, float]:
    if arm.source not in SOURCES:
        raise ValueError(f"MSC source {arm.source!r} unknown (known: {', '.join(SOURCES)})")
    if arm.route not in ROUTES:
        raise ValueError(f"MSC route {arm.route!r} unknown (known: {', '.join(ROUTES)})")
    dose = float(arm.dose_cells_per_kg)
    if not (DOSE_RANGE[0] <= dose <= DOSE_RANGE[1]):
        raise ValueError(f"MSC dose {dose:g} cells/kg outside {DOSE_RANGE[0]:g}..{DOSE_RANGE[1]:g}")
    n = int(arm.schedule.doses)
    if not (1 <= n <= MAX_DOSES):
        raise ValueError(f"MSC doses {n} outside 1..{MAX_DOSES}")
    interval = arm.schedule.interval_days
    if n > 1 and (interval is None or not interval > 0):
        raise ValueError("MSC schedule with several doses needs interval_days > 0")
    return SOURCES[arm.source], ROUTES[arm.route], n, (float(interval) if n > 1 else 0.0)


def msc_doses(arm) -> list[tuple[float, str, float]]:
    """(day, state, amount in 1e6 bone-marrow-equivalent cells/kg) of every dose of ``arm``."""
    src, route, n, interval = _check(arm)
    amount = arm.dose_cells_per_kg / CELLS_UNIT * src.potency
    return [(k * interval, state, amount * frac)
            for k in range(n) for state, frac in route.fractions().items() if frac > 0]


def msc_plan(model: ModelSpec, arm) -> ArmPlan:
    """Events of an MSC arm (``arm``: therapy ``"msc"``, source, dose_cells_per_kg, route, schedule)."""
    src, route, n, interval = _check(arm)
    b = ScheduleBuilder(model)
    if src.persistence != model.parameter("msc_persist").value:
        b.set(0.0, "msc_persist", src.persistence, label=f"MSC source {arm.source}")
    for day, state, amount in msc_doses(arm):
        b.dose(day, state, amount, label=f"MSC {arm.route} ({arm.source})")
    every = f", every {interval:g} days" if n > 1 else ""
    desc = (f"MSC: {arm.source.replace('_', ' ')} {arm.dose_cells_per_kg:.2g} cells/kg {arm.route}, "
            f"{n} dose{'s' if n > 1 else ''}{every}")
    last = (n - 1) * interval
    return ArmPlan(b.build(), math.nan, ORGAN_TOXICITY_DEATH, desc, last,
                   "received every MSC dose" if n > 1 else "received the MSC dose")
