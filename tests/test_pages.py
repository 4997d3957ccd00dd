"""Every HTML page rendered from its jinja2 template on a small real run: the key content is
there, user text is escaped, plotly.js is inline once."""

from __future__ import annotations

import html
import re

import markupsafe
import pytest
from plotly.offline import get_plotlyjs

from remit.report.html import endpoint_labels, render_report
from remit.report.templating import Table, render_page
from remit.scenario import load_scenario, parse_scenario

SCENARIO = "tests/scenarios/mist_like.toml"
NAME = "<script>alert(1)</script> & MIST"  # a scenario name that must come out as text
PLOTLY = get_plotlyjs()[:200]


def tiny_spec(patients=20, years=2, name=NAME):
    data = load_scenario(SCENARIO).model_dump(mode="json")
    data["trial"].update(patients_per_arm=patients, follow_up_years=years, name=name)
    return parse_scenario(data, SCENARIO)


def section(text: str, sid: str) -> str:
    """One section of a page (sections do not nest)."""
    m = re.search(rf'<section id="{re.escape(sid)}"><h2>.*?</section>', text, flags=re.S)
    assert m, sid
    return m.group(0)


def rows(fragment: str) -> list[tuple[str, list[str]]]:
    """(row class, unescaped cell texts) of every body row of the tables in ``fragment``."""
    out = []
    for body in re.findall(r"<tbody>(.*?)</tbody>", fragment):
        for cls, cells in re.findall(r'<tr(?: class="([^"]*)")?>(.*?)</tr>', body):
            out.append((cls, [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", cells)]))
    return out


def assert_self_contained(text: str) -> None:
    assert text.count(PLOTLY) == 1  # plotly.js inline, once
    assert not re.search(r"<(script|link)[^>]*\b(src|href)\s*=", text, flags=re.I)  # nothing fetched


def assert_escaped(text: str) -> None:
    assert "<script>alert(1)" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; MIST" in text


# --------------------------------------------------------------------------
# the trial report
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trial():
    from remit.trial import Trial

    spec = tiny_spec()
    return spec, Trial(spec, SCENARIO).run(out=None, progress=False)


def test_report_lists_every_endpoint_row_and_the_provenance(trial):
    spec, res = trial
    text = render_report(title=spec.trial.name, spec=spec, patients=res.patients, visits=res.visits,
                         endpoints=res.endpoints, baseline=res.baseline, provenance=res.provenance)
    labels = endpoint_labels(res.disease)
    shown = [cells for _, cells in rows(section(text, "endpoints"))]
    assert [(c[0], c[1], c[2]) for c in shown] == [
        (r.arm, labels.get(r.endpoint, r.endpoint), r.endpoint) for r in res.endpoints.itertuples()]
    prov = section(text, "provenance")
    for key, value in res.provenance.items():
        assert f"<dt>{html.escape(key)}</dt>" in prov, key
        if isinstance(value, (str, int)):
            assert f"<dd>{markupsafe.escape(value)}</dd>" in prov, key
    assert_escaped(text)
    assert f"<title>{html.escape(NAME, quote=False)}</title>" in text
    assert_self_contained(text)
    assert "Written by remit" in text


# --------------------------------------------------------------------------
# design studies
# --------------------------------------------------------------------------


def test_power_page():
    from remit.design.power import run_power
    from remit.design.report import power_html

    res = run_power(tiny_spec(15, 1), [5, 10], replicates=40, cohort_per_arm=30)
    ref = {"n_per_arm": 10, "label": "n = 10", "text": "MIST randomised <10> per arm"}
    text = power_html(res, ref)
    table = [cells for _, cells in rows(section(text, "table"))]
    assert [c[0] for c in table] == ["5", "10"]
    assert [c[1] for c in table] == [f"{100 * p:.1f}%" for p in res.table["power"]]
    curve = section(text, "curve")
    assert "80% power is not reached on this grid." in curve or "80% power is reached at about" in curve
    assert "MIST randomised &lt;10&gt; per arm" in curve  # the reference sentence, escaped
    assert res.meta["parameter_uncertainty"].split(";")[0] in html.unescape(curve)
    for key in ("analysis", "replicates per size", "simulation time"):
        assert f"<dt>{key}</dt>" in section(text, "method")
    assert 'id="fig-power"' in text and 'id="fig-effects"' in text
    assert_escaped(text)
    assert_self_contained(text)


def test_sweep_page():
    from remit.design.report import sweep_html
    from remit.design.sweep import parse_vary, run_sweep

    res = run_sweep(tiny_spec(20, 1), [parse_vary("arms.aHSCT.graft.source=bone_marrow,peripheral_blood")])
    text = sweep_html(res)
    summary = rows(section(text, "summary"))
    assert [c[:2] for _, c in summary] == [["source=bone_marrow", "aHSCT"], ["(all protocols)", "DMT"],
                                            ["source=peripheral_blood", "aHSCT"]]
    s = res.summary.set_index(["label", "arm"])
    for _, cells in summary:
        if cells[1] == "aHSCT":
            day = s.loc[(cells[0], "aHSCT"), "engraftment_day_median"]
            assert cells[-1].split(" (")[0] == f"{day:.3g}"  # median engraftment day (95% CI)
    assert 'id="fig-tradeoff"' in section(text, "tradeoff")
    assert 'id="fig-h-aHSCT-' in section(text, "maps-aHSCT")
    method = html.unescape(section(text, "method"))
    assert "arms.aHSCT.graft.source = bone_marrow, peripheral_blood" in method
    assert "sweep_endpoints.csv" in method
    assert_escaped(text)
    assert_self_contained(text)


def test_sensitivity_page():
    from remit.design.report import sensitivity_html
    from remit.design.sensitivity import run_sensitivity

    res = run_sensitivity(tiny_spec(20, 1), ["tissue_attack", "k_msc_effect"], endpoint="edss_change", samples=4,
                          patients_per_arm=20)
    text = sensitivity_html(res)
    indices = section(text, "indices")
    table = {c[0]: c for _, c in rows(indices)}
    assert set(table) == {"tissue_attack", "k_msc_effect"}
    for r in res.indices.itertuples():
        assert table[r.parameter][3] == f"{r.ST:.3f} \u00b1 {r.ST_conf:.3f}"
    top = res.indices.sort_values("ST", ascending=False).iloc[0]
    assert f"<b>{top.parameter} (ST {top.ST:.2f})" in indices
    assert 'id="fig-sobol"' in indices
    assert f"<dd>{res.meta['evaluations']}</dd>" in section(text, "method")
    assert_escaped(text)
    assert_self_contained(text)


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------


def test_validation_page_lists_every_miss():
    from remit.validate import render_html, run_validation

    res = run_validation(disease="systemic_sclerosis", patients_per_arm=30)
    t = res.table
    text = render_html(res)
    shown = rows(section(text, "systemic_sclerosis"))
    assert len(shown) == len(t)
    target, agree = t["target"].astype(bool).to_numpy(), t["agree"].astype(float).to_numpy()
    missed = t[target & (agree == 0)]
    assert len(missed), "the SSc trials at 30 patients per arm miss some published intervals"
    miss_rows = [cells for cls, cells in shown if cls == "miss"]
    assert [(c[0], c[2], c[3]) for c in miss_rows] == [
        (r.trial_id, f"{r.label} [{r.endpoint}]", r.arm) for r in missed.itertuples()]
    assert all(c[-1] == "NO" for c in miss_rows)
    assert sum(cls == "agree" for cls, _ in shown) == int((target & (agree == 1)).sum())
    assert sum(cls == "unverified" for cls, _ in shown) == int((~target).sum())
    summary = {(c[0], c[1]): c for _, c in rows(section(text, "summary"))}
    assert sum(int(c[5]) for c in summary.values()) == len(missed)  # the miss column
    skipped = [c for _, c in rows(section(text, "skipped"))]
    assert skipped == [list(s) for s in res.skipped]
    assert 'id="forest-systemic_sclerosis"' in text and "How to read agree" in text
    assert_self_contained(text)


# --------------------------------------------------------------------------
# the shared macros
# --------------------------------------------------------------------------


def test_macros_escape_cells_and_mark_numeric_columns():
    text = render_page("validation.html.j2", title="t", subtitle="s", headings={"runtimes": "Runtimes"},
                       parameters="p", agree_rule="r", summary=None, diseases=[], skipped=None,
                       runtimes=Table(["scenario", "seconds"], [["<i>x</i>", "1.0"]], [False, True], ["miss"]))
    assert ('<tr class="miss"><td>&lt;i&gt;x&lt;/i&gt;</td><td class="num">1.0</td></tr>'
            in section(text, "runtimes"))
    assert PLOTLY not in text  # no figure, no plotly.js
    with pytest.raises(ValueError, match="numeric: 1 flags for 2 columns"):
        Table(["a", "b"], [], [True])
    with pytest.raises(ValueError, match="row_classes: 2 classes for 1 rows"):
        Table(["a"], [["x"]], row_classes=["miss", "agree"])


def test_an_undefined_variable_is_an_error():
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError, match="headings"):
        render_page("power.html.j2", title="t", subtitle="s")
