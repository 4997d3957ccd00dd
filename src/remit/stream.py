"""The visits table of a run directory, streamed from its chunk files.

A million patients have twenty million visit rows: too many to sort in pandas at once. The
chunks of every arm that start at the same offset hold one contiguous range of patient ids
(patients are assigned to arms in turn, ``patient_id % arms``), so the final table, sorted by
patient and time, is those groups one after another, each sorted on its own.
:meth:`VisitChunks.write_parquet` writes ``visits.parquet`` group by group, byte for byte
what :func:`remit.store.write_parquet` writes for the whole table (same row groups, pages and
schema), and gathers the report's per-visit summaries on the way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

SORT = ["patient_id", "t_years"]
# pyarrow's default row group length (pq.write_table); streamed row groups must match it
ROW_GROUP = 1024 * 1024


def sorted_chunk_frames(directory: Path, keys: Sequence[str], table: str, by: list[str]) -> Iterator[pd.DataFrame]:
    """The ``<key>.<table>.parquet`` chunk files as one table sorted by ``by`` (patient id first), a group of
    chunks (the arms' chunks that start at the same offset) at a time: the same rows in the same order
    as sorting all chunks together, stably, in key order."""
    by_start: dict[int, list[str]] = {}
    for key in sorted(keys):
        by_start.setdefault(int(key.rsplit("-", 1)[1]), []).append(key)
    last = None
    for start in sorted(by_start):
        group = by_start[start]
        parts = [pd.read_parquet(Path(directory) / f"{k}.{table}.parquet") for k in group]
        df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        df = df.sort_values(by, kind="stable").reset_index(drop=True)
        if len(df):
            first = int(df["patient_id"].iloc[0])
            if last is not None and first <= last:
                raise RuntimeError(f"{table} chunks {group} overlap the patient ids of earlier chunks; "
                                   "they cannot be read group by group")
            last = int(df["patient_id"].iloc[-1])
        yield df


class VisitChunks:
    """The ``*.visits.parquet`` chunk files of a run directory (keys ``arm<NN>-<start>``)."""

    def __init__(self, directory: Path, keys: Sequence[str]):
        self.directory = Path(directory)
        self.keys = sorted(keys)

    def _file(self, key: str) -> Path:
        return self.directory / f"{key}.visits.parquet"

    def frames(self) -> Iterator[pd.DataFrame]:
        """The visits table in final order (patient, time), one group of chunks at a time."""
        return sorted_chunk_frames(self.directory, self.keys, "visits", SORT)

    def frame(self) -> pd.DataFrame:
        """The whole visits table in memory (what a run without a run directory returns)."""
        frames = list(self.frames())
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def write_parquet(self, path: Path, summary_columns: Sequence[str] = ()):
        """Write ``visits.parquet`` (atomically) and return the report's per-visit summaries of ``summary_columns``
        (a :class:`remit.report.plots.VisitSummaries`)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from remit.report.plots import VisitSummaries
        from remit.store import atomic_path

        values: dict[str, dict[tuple[str, float], list[np.ndarray]]] = {}
        with atomic_path(Path(path)) as tmp:
            writer = None
            pending: list = []
            n_pending = 0

            def flush(table) -> None:
                nonlocal writer
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd", write_statistics=False)
                writer.write_table(table, row_group_size=ROW_GROUP)

            try:
                for df in self.frames():
                    cols = [c for c in summary_columns if c in df.columns]
                    for c in cols:
                        values.setdefault(c, {})
                    if cols and len(df):
                        arrays = {c: df[c].to_numpy(dtype=float) for c in cols}
                        for (arm, t), rows in df.groupby(["arm", "t_years"], sort=False).indices.items():
                            for c in cols:
                                values[c].setdefault((str(arm), float(t)), []).append(arrays[c][rows])
                    table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
                    if pending and not table.schema.equals(pending[0].schema):
                        raise RuntimeError(f"visit chunks differ in their columns: {table.schema} vs {pending[0].schema}")
                    pending.append(table)
                    n_pending += len(table)
                    while n_pending >= ROW_GROUP:
                        whole = pa.concat_tables(pending).combine_chunks()
                        flush(whole.slice(0, ROW_GROUP))
                        rest = whole.slice(ROW_GROUP)
                        pending, n_pending = [rest], len(rest)
                if n_pending or writer is None:
                    whole = pa.concat_tables(pending).combine_chunks() if pending else pa.table({})
                    flush(whole)
            finally:
                if writer is not None:
                    writer.close()
        return VisitSummaries.from_values({c: {k: np.concatenate(v) for k, v in groups.items()}
                                           for c, groups in values.items()})
