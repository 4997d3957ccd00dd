"""Reproducibility at scale: chunk sizes, Dask workers, a real Dask cluster, and resume after SIGKILL.

The same scenario and seed must give byte-identical ``patients.parquet`` and ``endpoints.csv``
whatever the chunk size, the number of workers or the cluster, and a run killed partway and
resumed must equal an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from remit.rundir import RunDirectoryError
from remit.scenario import load_scenario
from remit.trial import Trial

EXAMPLE = "examples/ms_ahsct_vs_dmt.toml"
N = 60
FILES = ("patients.parquet", "endpoints.csv")


def spec(n=N):
    return load_scenario(EXAMPLE).with_overrides(patients_per_arm=n)


def digests(out: Path) -> dict[str, str]:
    return {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in FILES}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    Trial(spec(), EXAMPLE).run(out=out, chunk_size=100)
    return digests(out)


@pytest.mark.parametrize("chunk_size", [1000, 10000, 7])
def test_chunk_size_does_not_change_bytes(tmp_path, reference, chunk_size):
    Trial(spec(), EXAMPLE).run(out=tmp_path / "run", chunk_size=chunk_size)
    assert digests(tmp_path / "run") == reference


def test_two_local_dask_workers_give_the_same_bytes(tmp_path, reference):
    result = Trial(spec(), EXAMPLE).run(out=tmp_path / "run", chunk_size=25, workers=2)
    assert result.provenance["workers"] == 2
    assert digests(tmp_path / "run") == reference


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_external_dask_scheduler_and_workers(tmp_path, reference):
    """A real scheduler and two workers as separate processes on 127.0.0.1."""
    bindir = Path(sys.executable).parent
    port = _free_port()
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    procs = [subprocess.Popen([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    address = f"tcp://127.0.0.1:{port}"
    try:
        for _ in range(2):
            procs.append(subprocess.Popen([str(bindir / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard"],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout=60) as c:
            c.wait_for_workers(2, timeout=120)
        result = Trial(spec(), EXAMPLE).run(out=tmp_path / "run", chunk_size=30, scheduler=address)
        assert result.provenance["workers"] == 2
        assert digests(tmp_path / "run") == reference
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path):
    n, chunk = 150, 10
    ref = tmp_path / "ref"
    Trial(spec(n), EXAMPLE).run(out=ref, chunk_size=100)
    out = tmp_path / "run"
    cmd = [str(Path(sys.executable).parent / "remit"), "run", EXAMPLE, "--out", str(out), "--chunk-size", str(chunk),
           "--patients-per-arm", str(n), "--quiet", "--posterior-draws", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    chunks = out / "chunks"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(chunks.glob("*.patients.parquet"))) < 3:
        if proc.poll() is not None:
            pytest.fail("the run finished before it could be killed")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(chunks.glob("*.patients.parquet")))
    assert 3 <= done < 2 * n // chunk, "the kill should land partway through the simulation"
    assert not (out / "patients.parquet").exists()
    subprocess.run([*cmd, "--resume"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["chunks"]["reused"] >= done and prov["chunks"]["computed"] == 2 * n // chunk - prov["chunks"]["reused"]
    assert digests(out) == digests(ref)


def test_existing_run_directory_needs_force_or_matching_resume(tmp_path):
    out = tmp_path / "run"
    Trial(spec(10), EXAMPLE).run(out=out, chunk_size=100)
    with pytest.raises(RunDirectoryError, match="--resume .* or --force"):
        Trial(spec(10), EXAMPLE).run(out=out, chunk_size=100)
    with pytest.raises(RunDirectoryError, match="different scenario"):
        Trial(spec(12), EXAMPLE).run(out=out, chunk_size=100, resume=True)
    Trial(spec(12), EXAMPLE).run(out=out, chunk_size=100, force=True)
    assert len(__import__("pandas").read_parquet(out / "patients.parquet")) == 24


def test_half_written_chunk_is_not_read_as_whole(tmp_path):
    """A chunk whose patients file is missing (killed between the two writes) or only a temp file is recomputed."""
    out = tmp_path / "run"
    Trial(spec(10), EXAMPLE).run(out=out, chunk_size=5)
    chunks = out / "chunks"
    victim = sorted(chunks.glob("*.patients.parquet"))[0]
    (chunks / f".{victim.name}.abc.tmp").write_bytes(victim.read_bytes()[:100])
    victim.unlink()
    before = digests(out)
    r = Trial(spec(10), EXAMPLE).run(out=out, chunk_size=5, resume=True)
    assert r.provenance["chunks"]["computed"] == 1
    assert digests(out) == before


def test_jax_backend_trial_matches_the_numba_run(tmp_path):
    """``remit run --backend jax`` enrols and simulates the same patients: every number of
    patients.parquet and endpoints.csv within 1e-6 relative of the numba run; a run directory
    of one backend is not resumed with the other."""
    pytest.importorskip("jax")
    import numpy as np
    import pandas as pd
    from typer.testing import CliRunner

    from remit.cli import app

    Trial(spec(20), EXAMPLE).run(out=tmp_path / "numba", chunk_size=100)
    res = CliRunner().invoke(app, ["run", EXAMPLE, "--patients-per-arm", "20", "--out", str(tmp_path / "jax"), "--chunk-size",
                                   "100", "--backend", "jax", "--quiet", "--posterior-draws", "0"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "jax" / "provenance.json").read_text())["solver"]["backend"] == "jax"
    for name, read in (("patients.parquet", pd.read_parquet), ("endpoints.csv", pd.read_csv)):
        a, b = read(tmp_path / "numba" / name), read(tmp_path / "jax" / name)
        assert list(a.columns) == list(b.columns) and a.shape == b.shape
        num = a.select_dtypes("number").columns
        assert a.drop(columns=num).astype(str).equals(b.drop(columns=num).astype(str))
        x, y = a[num].to_numpy(float), b[num].to_numpy(float)
        assert np.array_equal(np.isnan(x), np.isnan(y))
        ok = ~np.isnan(x)
        assert np.all(np.abs(x[ok] - y[ok]) <= 1e-6 * np.maximum(np.abs(x[ok]), 1e-9))
    with pytest.raises(RunDirectoryError, match="backend"):
        Trial(spec(20), EXAMPLE).run(out=tmp_path / "jax", chunk_size=100, resume=True)


def test_unknown_backend_is_a_clear_error():
    from typer.testing import CliRunner

    from remit.cli import app

    res = CliRunner().invoke(app, ["run", EXAMPLE, "--backend", "cuda"])
    assert res.exit_code == 2 and "--backend: 'cuda' is not one of numba, jax" in res.output
