"""Leave-one-trial-out cross-validation (remit.crossval) on type 1 diabetes, whose two calibration
trials each get predicted by a fit to the other, at a tiny ABC budget."""

from __future__ import annotations

import pandas as pd
import pytest

from remit import crossval as cv
from remit.calibration.problem import build_problem

TINY = {"population_size": 4, "generations": 1, "patients_per_arm": 10}
DISEASE = "type1_diabetes"


def test_held_out_problem_has_nothing_of_the_held_out_trial():
    full = build_problem(DISEASE, 10)
    trials = sorted({t.trial_id for t in full.targets})
    assert trials == cv.held_out_trials(DISEASE) and len(trials) == 2
    whole = full.statistics(full.simulate(None))
    for held in trials:
        p = full.without(held)
        assert held not in {t.trial_id for t in p.targets} and p.targets
        assert all(rec.id != held for rec, _, _ in p.jobs)
        # every target left points at its own comparison row: the same estimate as in the whole problem
        x = p.statistics(p.simulate(None))
        kept = [i for i, t in enumerate(full.targets) if t.trial_id != held]
        assert [x[f"s{j}"] for j in range(len(kept))] == [whole[f"s{i}"] for i in kept]
    with pytest.raises(ValueError, match="not a calibration trial"):
        full.without("t1d-no-such-trial")


@pytest.fixture
def tiny():
    return cv.CrossValidationSettings("tiny", posterior_draws=3, abc=tuple(TINY.items()))


def test_cross_validation_scores_each_trial_from_the_others_and_resumes(tmp_path, tiny):
    out = tmp_path / "cv"
    first = cv.run_cross_validation(out, DISEASE, tiny)
    table = pd.read_csv(out / "cv.csv")
    assert set(table["held_out_trial"]) == set(cv.held_out_trials(DISEASE))
    for held, g in table.groupby("held_out_trial"):
        (other,) = set(cv.held_out_trials(DISEASE)) - {held}
        assert (g["trial_id"] == held).all() and g["fit"].str.endswith(f"fitted on {other}").all()
    assert {"agree", "pi_low", "pi_high", "trial_n", "covered"} <= set(table.columns)
    assert table["simulated"].notna().all() and table["pi_low"].notna().any()
    html = (out / "cv.html").read_text(encoding="utf-8")
    assert "Per held-out trial" in html and "forest-type1_diabetes" in html

    # a second run without --resume refuses; with it, everything is read back: the same table
    with pytest.raises(cv.CrossValidationError, match="--resume"):
        cv.run_cross_validation(out, DISEASE, tiny)
    before = (out / "cv.csv").read_bytes()
    cv.run_cross_validation(out, DISEASE, tiny, resume=True)
    assert (out / "cv.csv").read_bytes() == before
    # killed after one trial's fit but before its scoring, or mid-calibration (the database kept, the
    # result not written): the restarted run gives the same table
    held = cv.held_out_trials(DISEASE)[0]
    (out / DISEASE / held / "rows.csv").unlink()
    (out / DISEASE / held / "calibration" / "calibration.json").unlink()
    cv.run_cross_validation(out, DISEASE, tiny, resume=True)
    assert (out / "cv.csv").read_bytes() == before
    with pytest.raises(cv.CrossValidationError, match="other settings"):
        cv.run_cross_validation(out, DISEASE, cv.CrossValidationSettings("tiny", 4, abc=tuple(TINY.items())),
                                resume=True)
    assert len(first.table) == len(table)
    # the held-out fits side by side on two Dask workers: the same table
    cv.run_cross_validation(tmp_path / "dask", DISEASE, tiny, workers=2)
    assert (tmp_path / "dask" / "cv.csv").read_bytes() == before
    with pytest.raises(cv.CrossValidationError, match="--budget"):
        cv.CrossValidationSettings("nonsense")
