"""The run directory: finished chunks on disk, so that a killed run resumes and loses nothing.

Layout (besides the final outputs written by :func:`remit.trial.write_outputs`)::

    run/manifest.json                       scenario digest, chunk size, remit version
    run/chunks/cohort.npz                   the enrolled cohort (written once enrolment is done)
    run/chunks/<arm>-<start>.visits.parquet
    run/chunks/<arm>-<start>.outcomes.parquet
    run/chunks/<arm>-<start>.patients.parquet   written last: its presence marks the chunk as whole

Every file is written atomically (temporary name, then rename), so a half-written chunk
is never read as whole. An existing run directory is never overwritten unless asked
(``force``) and is continued only if it belongs to the same scenario (``resume``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from remit import __version__
from remit.errors import RemitError
from remit.store import atomic_path, atomic_write_text

OUTPUTS = ("spec.toml", "patients.parquet", "outcomes.parquet", "visits.parquet", "endpoints.csv", "per_protocol.csv", "subgroups.csv", "baseline.csv", "provenance.json", "report.html")


class RunDirectoryError(RemitError):
    """The run directory cannot be used as asked."""


def scenario_digest(spec, chunk_size: int, backend: str = "numba") -> str:
    extra = f"\nbackend={backend}" if backend != "numba" else ""  # numba runs keep the digest they always had
    return hashlib.sha256(f"{spec.to_toml()}\nchunk_size={chunk_size}{extra}".encode()).hexdigest()[:16]


class RunDirectory:
    def __init__(self, path: str | Path, spec, chunk_size: int, resume: bool = False, force: bool = False,
                 backend: str = "numba"):
        self.path = Path(path)
        self.chunks = self.path / "chunks"
        digest = scenario_digest(spec, chunk_size, backend)
        manifest = self.path / "manifest.json"
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryError(f"{self.path}: exists and is not a directory")
        used = self.path.exists() and any(self.path.iterdir())
        if used and resume:
            try:
                old = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise RunDirectoryError(f"{self.path}: cannot resume, no readable manifest.json (not a remit run directory?)") from None
            if old.get("digest") != digest:
                raise RunDirectoryError(f"{self.path}: cannot resume, it holds a run of a different scenario, chunk size or "
                                        f"solver backend (chunk_size {old.get('chunk_size')}, backend "
                                        f"{old.get('backend', 'numba')}); use --force to start over")
        elif used and not force:
            raise RunDirectoryError(f"{self.path}: already exists and is not empty; use --resume to continue that run "
                                    "or --force to overwrite it")
        elif used and force:
            shutil.rmtree(self.chunks, ignore_errors=True)
            for name in (*OUTPUTS, "manifest.json"):
                (self.path / name).unlink(missing_ok=True)
        self.chunks.mkdir(parents=True, exist_ok=True)
        atomic_write_text(manifest, json.dumps({"digest": digest, "chunk_size": chunk_size, "backend": backend, "seed": spec.trial.seed,
                                                "remit_version": __version__}, indent=2))

    # -- the cohort ----------------------------------------------------------------------
    @property
    def cohort_file(self) -> Path:
        return self.chunks / "cohort.npz"

    def save_cohort(self, cohort, info: dict) -> None:
        arrays = {"candidate": cohort.candidate, "params": cohort.params, "y": cohort.y, "status": cohort.status,
                  **{f"cov__{k}": v for k, v in cohort.covariates.items()},
                  **{f"carry__{k}": v for k, v in cohort.carry.items()}}
        with atomic_path(self.cohort_file) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        atomic_write_text(self.chunks / "enrolment.json", json.dumps(info))

    def load_cohort(self):
        from remit.population import Cohort

        if not self.cohort_file.exists() or not (self.chunks / "enrolment.json").exists():
            return None
        with np.load(self.cohort_file, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        cov = {k[5:]: v for k, v in d.items() if k.startswith("cov__")}
        carry = {k[7:]: v for k, v in d.items() if k.startswith("carry__")}
        info = json.loads((self.chunks / "enrolment.json").read_text(encoding="utf-8"))
        return Cohort(d["candidate"], cov, d["params"], d["y"], carry, d["status"]), info

    # -- chunks of results ---------------------------------------------------------------
    def _files(self, key: str) -> tuple[Path, Path, Path]:
        return (self.chunks / f"{key}.patients.parquet", self.chunks / f"{key}.visits.parquet",
                self.chunks / f"{key}.outcomes.parquet")

    def has_chunk(self, key: str) -> bool:
        return all(f.exists() for f in self._files(key))

    def write_chunk(self, key: str, patients, visits, outcomes) -> None:
        from remit.store import write_parquet

        p, v, o = self._files(key)
        write_parquet(visits, v)
        write_parquet(outcomes, o)
        write_parquet(patients, p)  # last: marks the chunk as whole

    def read_chunk(self, key: str):
        import pandas as pd

        return tuple(pd.read_parquet(f) for f in self._files(key))
