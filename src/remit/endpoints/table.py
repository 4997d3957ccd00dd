"""The endpoint table of a trial: every endpoint of the disease's catalog, then the shared ones."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from remit.endpoints.base import ENDPOINT_COLUMNS, ENDPOINT_KINDS, EndpointKind, Records
from remit.endpoints.safety import SHARED


def catalog_order(catalog: Iterable[EndpointKind]) -> list[EndpointKind]:
    """The catalog grouped by kind in registration order (catalog order within a kind): the order of
    the endpoint table's rows and of the report's sections."""
    catalog = list(catalog)
    order = {k: i for i, k in enumerate(ENDPOINT_KINDS.ids())}
    return sorted(catalog, key=lambda e: order.get(e.kind, len(order)))


def compute_endpoints(records: Records, catalog: Iterable[EndpointKind]) -> pd.DataFrame:
    """All trial endpoints, one row per arm x endpoint x timepoint.

    ``catalog`` is the disease's endpoint list (instances of the :data:`ENDPOINT_KINDS`); the
    shared mortality and immune endpoints follow it. Columns are exactly ``ENDPOINT_COLUMNS``
    (all numeric columns float). Between-arm rows (hazard ratio, log-rank p, rate ratio) carry
    the arm label ``"<arm> vs <control_arm>"``; annual endpoints run to the whole years of
    ``records.follow_up_years``.
    """
    if records.control_arm not in records.arms:
        raise ValueError(f"control arm {records.control_arm!r} not among arms {records.arms}")
    rows: list[dict] = []
    for e in [*catalog_order(catalog), *SHARED]:
        rows += e.rows(records)
    out = pd.DataFrame(rows, columns=ENDPOINT_COLUMNS)
    num = ENDPOINT_COLUMNS[2:]
    out[num] = out[num].astype(float)
    return out.reset_index(drop=True)


SUBGROUP_COLUMNS = ["group", *ENDPOINT_COLUMNS]


def per_protocol(records: Records, catalog: Iterable[EndpointKind], chosen: Iterable[EndpointKind],
                 itt: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The endpoint table of the per-protocol set (the patients whose ``per_protocol`` is true) and the
    trial's table: ``itt`` with the rows of the ``chosen`` endpoints replaced by their per-protocol values."""
    sub = records.subset(records.patients["per_protocol"].to_numpy(bool))
    if all(a in sub.arms for a in records.arms):
        pp = compute_endpoints(sub, catalog)
    else:  # an arm without a single per-protocol patient (all died first): nothing is estimable
        pp = itt.copy()
        pp[ENDPOINT_COLUMNS[3:]] = np.nan
        pp["n"] = 0.0
    rows = {n for e in chosen for n in e.names()}
    key = ["arm", "endpoint", "timepoint_years"]
    take, give = itt["endpoint"].isin(rows).to_numpy(), pp["endpoint"].isin(rows).to_numpy()
    if not itt.loc[take, key].reset_index(drop=True).equals(pp.loc[give, key].reset_index(drop=True)):
        raise RuntimeError("the per-protocol endpoint rows do not line up with the intention-to-treat ones")
    out = itt.copy()
    out.loc[take, ENDPOINT_COLUMNS[3:]] = pp.loc[give, ENDPOINT_COLUMNS[3:]].to_numpy()
    return pp, out


def subgroup_endpoints(records: Records, catalog: Iterable[EndpointKind], groups: Iterable[str]) -> pd.DataFrame:
    """The endpoint table of each group of a mixed cohort (the patients' ``group`` column), one after
    another, with the group's name in a first column ``group``: every endpoint and between-arm
    comparison computed on that group's patients alone, as a subgroup analysis reports it."""
    catalog = list(catalog)
    parts = []
    for name in groups:
        mask = (records.patients["group"] == name).to_numpy()
        if mask.any():
            parts.append(compute_endpoints(records.subset(mask), catalog).assign(group=name))
    if not parts:
        return pd.DataFrame(columns=SUBGROUP_COLUMNS)
    return pd.concat(parts, ignore_index=True)[SUBGROUP_COLUMNS]


def km_fitters(records_or_patients, endpoint) -> dict:
    """Fitted Kaplan-Meier estimators per arm of a :class:`~remit.endpoints.survival.Survival` endpoint."""
    patients = getattr(records_or_patients, "patients", records_or_patients)
    return endpoint.fitters(patients)
