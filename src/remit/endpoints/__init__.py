"""Trial endpoints computed from the simulated per-patient records.

An endpoint kind is one class in one module, registered in :data:`ENDPOINT_KINDS`
(:mod:`remit.endpoints.base` is the contract): :class:`Survival` (time to event),
:class:`Rate` (events over follow-up), :class:`Score` (a score at visits),
:class:`Proportion` (a binary outcome at visits), :class:`Slope` (a score's rate of change) and
:class:`Composite` (a hierarchy a scenario declares, by win ratio and Finkelstein-Schoenfeld test). The mortality and immune endpoints every trial
reports are :data:`SHARED`. Everything here is deterministic (no resampling) and pure: it reads
the :class:`Records` (``patients`` and the long ``outcomes`` table) and returns new tables.
Definitions, statistics, CI methods and units of each endpoint are listed in
``docs/endpoints.md``; the endpoint names are a stable contract.

Times are in years unless a name says otherwise (``engraftment_day`` is in days, CD4 counts
are cells per microlitre).
"""

from remit.endpoints.base import (ALPHA, ENDPOINT_COLUMNS, ENDPOINT_KINDS, OUTCOME_COLUMNS, EndpointKind, FigureView,
                                  Records, comparison_label, empty_outcomes, whole_years)
from remit.endpoints.survival import Survival  # registration order: the order of rows and report sections
from remit.endpoints.rate import Rate
from remit.endpoints.visits import Proportion, Score
from remit.endpoints.slope import Slope
from remit.endpoints.composite import Composite
from remit.endpoints.safety import SHARED, DAY_100_YEARS, ImmuneRecovery, Mortality
from remit.endpoints.baseline import BASELINE_COLUMNS, baseline_table
from remit.endpoints.intervals import mean_t_interval, median_order_statistic_ci, proportion_ci
from remit.endpoints.table import (SUBGROUP_COLUMNS, catalog_order, compute_endpoints, km_fitters, per_protocol,
                                   subgroup_endpoints)

__all__ = [
    "ALPHA", "ENDPOINT_COLUMNS", "OUTCOME_COLUMNS", "BASELINE_COLUMNS", "ENDPOINT_KINDS", "SHARED",
    "DAY_100_YEARS", "EndpointKind", "FigureView", "Records", "Survival", "Rate", "Score", "Proportion", "Slope", "Composite",
    "Mortality", "ImmuneRecovery", "baseline_table", "catalog_order", "compute_endpoints", "per_protocol", "subgroup_endpoints", "SUBGROUP_COLUMNS", "comparison_label",
    "empty_outcomes", "km_fitters", "mean_t_interval", "median_order_statistic_ci", "proportion_ci", "whole_years",
]
