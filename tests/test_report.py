"""The sweep report: one self-contained HTML page per sweep, every figure embedded, every run listed."""

from __future__ import annotations

import base64
import dataclasses
import itertools
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from imbexp.config import Objective
from imbexp.report import (
    INTERVAL_METRICS,
    MORE_FACTOR_PANELS,
    claims_figure,
    draw_against_factor,
    load_runs,
    main,
    pareto_mask,
    pareto_section,
    reliability_figures,
    reliability_points,
    write_report,
)

STRATEGIES = ("downsample", "downsample_prior", "downsample_upweight")
FACTORS = (1, 3, 10, 30)
#: 3 strategies x 4 factors = 12 runs on 8,000 rows (32 test positives: enough for intervals)
#: with 20 trees and few bootstrap resamples
GRID = [f"strategy={','.join(STRATEGIES)}", f"strategy.downsample_factor={','.join(map(str, FACTORS))}",
        "dataset.rows=8000", "model.estimator.n_estimators=20", "model.estimator.n_jobs=1",
        "metrics.bootstrap=20", "tracking.experiment=report"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """What a browser would fetch and show: images, external references, table rows, headings."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[str] = []
        self.external: list[str] = []
        self.run_rows: list[str] = []
        self.headings: list[str] = []
        self.ci_cells = 0
        self._in_h2 = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes.get("src") or "")
        if tag in ("script", "link", "iframe") or (tag != "img" and attributes.get("src")):
            self.external.append(f"{tag} {attributes}")
        if tag == "tr" and attributes.get("data-run-id"):
            self.run_rows.append(attributes["data-run-id"])
        if tag == "span" and attributes.get("class") == "ci":
            self.ci_cells += 1
        self._in_h2 = tag == "h2"

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.headings.append(data.strip())
            self._in_h2 = False


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "IMBEXP_HOME": str(home), "PYTHONUNBUFFERED": "1"}


def _report_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imbexp.report", *args], cwd=home, env=_env(home),
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A real 12-run grid sweep, in its own home so the report sees exactly these runs."""
    home = tmp_path_factory.mktemp("report-home")
    done = subprocess.run([sys.executable, "-m", "imbexp", "-m", *GRID], cwd=home, env=_env(home),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{(home / 'runs' / 'mlflow.db').as_posix()}"
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("report")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    # the grid has no strategy=none job: it adds one baseline run, nested under its parent
    jobs = [r for r in children if r.data.tags.get("imbexp.baseline") != "true"]
    assert len(parents) == 1 and len(jobs) == 12 and len(children) == 13
    return {"home": home, "uri": uri, "client": client, "parent": parents[0].info.run_id,
            "children": sorted(r.info.run_id for r in children), "jobs": sorted(r.info.run_id for r in jobs),
            "experiment_id": experiment.experiment_id, "log": done.stdout + done.stderr}


def test_a_grid_sweep_writes_its_report_and_logs_it_to_the_parent(sweep) -> None:
    reports = list((sweep["home"] / "runs" / "reports").glob("*.html"))
    assert len(reports) == 1, sweep["log"][-2000:]
    logged = [a.path for a in sweep["client"].list_artifacts(sweep["parent"], "report")]
    assert logged == [f"report/{reports[0].name}"]
    page = Page(reports[0].read_text(encoding="utf-8"))
    assert sorted(page.run_rows) == sweep["children"]


def test_every_figure_is_embedded_and_every_run_appears(sweep, tmp_path) -> None:
    path = write_report(sweep["uri"], parent_run_id=sweep["parent"], output=tmp_path / "sweep.html",
                        log_to_parent=False)
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    # claims figure, more metrics against f, reliability overlaid, reliability per strategy
    assert len(page.images) >= 4
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.removeprefix("data:image/png;base64,"))[:8] == PNG_MAGIC
    assert page.external == [] and "http://" not in text and "https://" not in text
    assert sorted(page.run_rows) == sweep["children"]
    assert {"Leaderboard", "Against the downsample factor", "Reliability"} <= set(page.headings)
    for label in ("downsample_upweight", "downsample +prior"):
        assert label in text


def test_intervals_are_shown_where_the_runs_logged_them(sweep, tmp_path) -> None:
    client, run_id = sweep["client"], sweep["children"][0]
    value = client.get_run(run_id).data.metrics["test_pr_auc"]
    client.log_metric(run_id, "test_pr_auc_ci_low", value - 0.05)
    client.log_metric(run_id, "test_pr_auc_ci_high", value + 0.05)
    logged = sum(f"test_{m}_ci_low" in run.data.metrics and f"test_{m}_ci_high" in run.data.metrics
                 for run in map(client.get_run, sweep["children"]) for m in INTERVAL_METRICS)
    assert logged > len(sweep["children"]), "the runs logged their own intervals"
    text = write_report(sweep["uri"], parent_run_id=sweep["parent"], output=tmp_path / "ci.html",
                        log_to_parent=False).read_text(encoding="utf-8")
    # one run per (strategy, factor): each interval a run logged is shown, and no other
    assert Page(text).ci_cells == logged
    assert f'<span class="ci">[{value - 0.05:.4f}, {value + 0.05:.4f}]</span>' in text


def test_the_cli_reports_an_experiment_and_saves_the_claims_figure(sweep, tmp_path) -> None:
    png = tmp_path / "claims.png"
    done = _report_cli(sweep["home"], "--experiment", "report", "--claims-figure", str(png),
                       "--output", str(tmp_path / "experiment.html"))
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == tmp_path / "experiment.html"
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert "reading test predictions" in done.stderr  # progress goes to stderr
    page = Page((tmp_path / "experiment.html").read_text(encoding="utf-8"))
    assert sorted(page.run_rows) == sweep["children"]  # the leaf runs, not the sweep's parent


def test_an_optuna_style_parent_gets_its_pareto_front_and_trial_numbers(sweep, tmp_path) -> None:
    """Any sweeper's parent works: children are found by their parentRunId tag; with two
    objectives in the runs' config the front is computed, and the parent's own plots are shown."""
    client = sweep["client"]
    parent = client.create_run(sweep["experiment_id"], run_name="optuna · study",
                               tags={"imbexp.sweep": "optuna", "optuna.study_name": "study"}).info.run_id
    sources = [client.get_run(r) for r in sweep["children"]]
    config = "objective:\n  metric: [pr_auc, ece]\n  direction: auto\n"
    for number, source in enumerate(sources[:8]):
        child = client.create_run(sweep["experiment_id"], run_name=f"trial {number}", tags={
            "mlflow.parentRunId": parent, "optuna.trial_number": str(number), "optuna.study_name": "study",
            "strategy": source.data.tags["strategy"]}).info.run_id
        for key, value in source.data.params.items():
            client.log_param(child, key, value)
        for key, value in source.data.metrics.items():
            client.log_metric(child, key, value)
        client.log_text(child, config, "config.yaml")
        client.set_terminated(child, "FINISHED")
    png = sweep["home"] / "pareto_front.png"
    png.write_bytes(base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="))
    client.log_artifact(parent, str(png), "plots")
    client.set_terminated(parent, "FINISHED")

    path = write_report(sweep["uri"], parent_run_id=parent, output=tmp_path / "optuna.html")
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert "Pareto front" in page.headings
    assert len(page.run_rows) == 8
    assert "<th>trial</th>" in text
    assert "plots/pareto_front.png" in text
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert [a.path for a in client.list_artifacts(parent, "report")] == ["report/optuna.html"]


def test_every_label_stays_inside_its_figure_and_clear_of_the_other_panels(sweep) -> None:
    """The panels sit at fixed margins rather than measured ones: every title, tick label, axis
    label and legend must still be drawn inside the figure, and no two panels may run into each other."""

    data = load_runs(sweep["uri"], parent_run_id=sweep["parent"])
    two_objectives = dataclasses.replace(data, objective=Objective(("pr_auc", "ece"), ("maximize", "minimize")))
    figures = [claims_figure(data.finished, data.facets),
               draw_against_factor(data.finished, MORE_FACTOR_PANELS, data.facets, cols=3),
               *(figure for _, figure, _ in reliability_figures(data)), pareto_section(two_objectives)[0]]
    assert all(figures) and len(figures) == 5
    for figure in figures:
        assert_labels_inside(figure)


def assert_labels_inside(figure) -> None:
    """Every panel, figure text and legend of ``figure`` inside it, and no two of them overlapping."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    panels = [ax.get_tightbbox(renderer) for ax in figure.axes if ax.get_visible()]
    extras = [artist.get_window_extent(renderer) for artist in [*figure.texts, *figure.legends]]
    for box in panels + extras:
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= figure.bbox.x1 and box.y1 <= figure.bbox.y1, box
    for one, other in itertools.combinations(panels + extras, 2):
        assert not one.overlaps(other), (one, other)


def test_a_missing_experiment_names_the_ones_that_exist(sweep) -> None:
    done = _report_cli(sweep["home"], "--experiment", "no-such-experiment")
    assert done.returncode != 0
    assert "no-such-experiment" in done.stderr and "report" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_missing_run_lists_recent_sweep_parents(sweep, capsys) -> None:
    assert main(["--tracking-uri", sweep["uri"], "--run", "0123456789abcdef0123456789abcdef"]) != 0
    err = capsys.readouterr().err
    assert "0123456789abcdef0123456789abcdef" in err and sweep["parent"] in err


def test_no_store_says_so(tmp_path, capsys) -> None:
    db = tmp_path / "runs" / "mlflow.db"
    assert main(["--tracking-uri", f"sqlite:///{db.as_posix()}", "--experiment", "anything"]) != 0
    assert "no MLflow store" in capsys.readouterr().err
    assert not db.exists()


def test_pareto_mask_keeps_the_non_dominated_points() -> None:
    # maximise the first column, minimise the second
    values = np.array([[0.9, 0.05], [0.8, 0.01], [0.7, 0.02], [0.9, 0.06], [np.nan, 0.0]])
    assert pareto_mask(values, ["maximize", "minimize"]).tolist() == [True, True, False, False, False]


def test_a_lone_point_outside_its_own_interval_still_draws_that_interval() -> None:
    """A bootstrap interval of a biased metric (ECE) need not contain its point estimate: the
    error bar of a strategy with one factor value spans the logged bounds, wherever the point is."""
    import pandas as pd
    from matplotlib.collections import LineCollection

    runs = pd.DataFrame({"strategy_label": ["downsample", "downsample"], "factor_name": ["downsample_factor"] * 2,
                         "factor": [10.0, 10.0], "test_ece": [0.0129, 0.0130],
                         "test_ece_ci_low": [0.0072, 0.0073], "test_ece_ci_high": [0.0126, 0.0127]})
    fig = draw_against_factor(runs, [("test_ece", "ECE (test)")], cols=1)
    bars = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    assert len(bars) == 1
    (segment,) = bars[0].get_segments()
    assert sorted(segment[:, 1]) == pytest.approx([0.00725, 0.01265])


def test_reliability_points_average_the_truth_per_quantile_bin() -> None:
    rng = np.random.default_rng(0)
    p_true = rng.uniform(0.0, 0.2, 20_000)
    predicted, observed, counts = reliability_points(p_true, p_true, n_bins=10)
    assert counts.sum() == 20_000 and len(counts) == 10
    np.testing.assert_allclose(predicted, observed)
    inflated, observed, _ = reliability_points(np.minimum(2 * p_true, 1.0), p_true, n_bins=10)
    np.testing.assert_allclose(inflated, 2 * observed, rtol=1e-6)


def test_runs_logged_without_the_label_tags_get_the_labels_their_strategy_gives(sweep) -> None:
    """Older runs have no ``imbexp.label``, ``imbexp.factor_name`` or ``imbexp.factor``: the report
    rebuilds each run's strategy from its params and asks it, so they read as the new runs do."""
    from mlflow.entities import Metric, Param

    client = sweep["client"]
    parent = client.create_run(sweep["experiment_id"], run_name="older").info.run_id
    for source in map(client.get_run, sweep["jobs"]):
        assert "imbexp.label" in source.data.tags and "imbexp.factor" in source.data.metrics
        child = client.create_run(sweep["experiment_id"], tags={
            "mlflow.parentRunId": parent, "strategy": source.data.tags["strategy"]}).info.run_id
        client.log_batch(child, params=[Param(k, v) for k, v in source.data.params.items()],
                         metrics=[Metric(k, v, 0, 0) for k, v in source.data.metrics.items()
                                  if not k.startswith("imbexp.")])
        client.set_terminated(child, "FINISHED")
    client.set_terminated(parent, "FINISHED")

    def described(run_id: str) -> list[tuple[str, float, str]]:
        runs = load_runs(sweep["uri"], parent_run_id=run_id).runs
        return sorted(zip(runs["strategy_label"], runs["factor"], runs["factor_name"], strict=True))

    new = [run for run in described(sweep["parent"]) if run[0] != "none"]  # the grid's added baseline
    assert {label for label, _, _ in new} == {"downsample", "downsample +prior", "downsample_upweight"}
    assert {(factor, name) for _, factor, name in new} == {(float(f), "downsample_factor") for f in FACTORS}
    assert described(parent) == new


def _copy_run(client, experiment_id: str, source, parent: str, tags: dict[str, str], params: dict[str, str],
              metrics: dict[str, float], predictions: Path | None = None) -> str:
    """A FINISHED child of ``parent`` with ``source``'s params and metrics, changed by the given ones."""
    from mlflow.entities import Metric, Param

    child = client.create_run(experiment_id, tags={"mlflow.parentRunId": parent, **tags}).info.run_id
    client.log_batch(child, params=[Param(k, v) for k, v in {**source.data.params, **params}.items()],
                     metrics=[Metric(k, v, 0, 0) for k, v in {**source.data.metrics, **metrics}.items()])
    if predictions is not None:
        client.log_artifact(child, str(predictions), "predictions")
    client.set_terminated(child, "FINISHED")
    return child


def _significant_digits(text: str) -> int:
    digits = text.replace(".", "").lstrip("0").rstrip("0")
    return len(digits) or 1


def test_an_optuna_sweep_of_two_continuous_factors_gets_round_ticks_and_short_legends(sweep, tmp_path) -> None:
    """40 trials at continuous f and w (``sweep=downsample_upweight``): every trial's label names its
    own w, once a legend of 40 fifteen-digit floats and a tick per sampled f. The factor axes tick
    at round values only, and every legend has at most 10 entries of at most 4 significant digits."""
    import re

    client = sweep["client"]
    experiment_id = client.create_experiment("report-optuna")
    source = next(run for run in map(client.get_run, sweep["jobs"])
                  if run.data.tags["strategy"] == "downsample_upweight")
    predictions = Path(client.download_artifacts(source.info.run_id, "predictions/test.parquet", str(tmp_path)))
    parent = client.create_run(experiment_id, run_name="optuna · study", tags={"imbexp.sweep": "optuna"}).info.run_id
    rng = np.random.default_rng(0)
    for number, (f, w) in enumerate(np.exp(rng.uniform(0, np.log(100), size=(40, 2)))):
        f, w = float(f), float(w)
        tags = {**{k: v for k, v in source.data.tags.items() if not k.startswith("mlflow.")},
                "imbexp.label": f"downsample_upweight w={w!r}", "optuna.trial_number": str(number)}
        _copy_run(client, experiment_id, source, parent, tags,
                  {"strategy.downsample_factor": repr(f), "strategy.upweight_factor": repr(w)},
                  {"imbexp.factor": f, "test_pr_auc": source.data.metrics["test_pr_auc"] * (1 - 0.001 * f),
                   "valid_ece": 0.001 * w}, predictions if number % 4 == 0 else None)
    client.set_terminated(parent, "FINISHED")

    data = load_runs(sweep["uri"], parent_run_id=parent)
    assert len(data.finished) == 40 and data.finished["factor"].nunique() == 40
    two_objectives = dataclasses.replace(data, objective=Objective(("pr_auc", "ece"), ("maximize", "minimize")))
    figures = [claims_figure(data.finished, data.facets),
               draw_against_factor(data.finished, MORE_FACTOR_PANELS, data.facets, cols=3),
               *(figure for _, figure, _ in reliability_figures(data)), pareto_section(two_objectives)[0]]
    assert all(figures) and len(figures) == 5
    legends = []
    factor_axes = 0
    for figure in figures:
        assert_labels_inside(figure)  # draws the figure, so its ticks are placed
        for ax in figure.axes:
            if ax.get_visible() and ax.get_xlabel().endswith(" f"):
                factor_axes += 1
                low, high = ax.get_xlim()
                ticks = [t for t in ax.xaxis.get_majorticklocs() if low <= t <= high]
                assert 2 <= len(ticks) <= 12, ticks
                for tick in ticks:  # 1, 2 or 5 times a power of ten
                    assert round(tick / 10 ** np.floor(np.log10(tick)), 6) in (1, 2, 5), ticks
        legends += [*figure.legends, *(ax.get_legend() for ax in figure.axes if ax.get_legend())]
    assert factor_axes >= 6 + len(MORE_FACTOR_PANELS) // 2
    assert len(legends) >= 4
    labels = []
    for legend in legends:
        texts = [text.get_text() for text in legend.get_texts()]
        assert 1 <= len(texts) <= 10, texts
        labels += texts
    for label in labels:
        for found in re.findall(r"\d+(?:\.\d+)?", label):
            assert _significant_digits(found) <= 4, label
    # the 40 values of w are a few round bins, in the order of their values
    bins = [text.get_text() for text in figures[0].legends[0].get_texts()]
    assert bins[:3] == ["downsample_upweight w 1–2", "downsample_upweight w 2–5", "downsample_upweight w 5–10"]
    # each run is in the bin that holds its w, the bins half-open: [low, high)
    for label, series in zip(data.finished["strategy_label"], data.finished["series"], strict=True):
        w = float(label.removeprefix("downsample_upweight w="))
        low, high = map(float, series.removeprefix("downsample_upweight w ").split("–"))
        assert low <= w < high, (label, series)
    assert set(data.finished["series"]) == set(bins)


def test_dataset_facts_logged_as_metrics_by_older_runs_still_read(sweep, tmp_path) -> None:
    """Runs now log the dataset's facts as tags; runs logged before logged them as metrics, and
    the report (its title line and figures) and the benchmark read both."""
    from imbexp import tracking
    from imbexp.report._figures import _context

    client = sweep["client"]
    experiment_id = client.create_experiment("report-older-facts")
    parent = client.create_run(experiment_id, run_name="older").info.run_id
    sources = [client.get_run(run_id) for run_id in sweep["jobs"]]
    share = float(sources[0].data.tags["dataset_minority_fraction"])
    for source in sources:
        assert not [key for key in source.data.metrics if key.startswith("dataset_")]
        facts = {key: float(source.data.tags[key]) for key in tracking.DATASET_FACTS if key in source.data.tags}
        tags = {k: v for k, v in source.data.tags.items() if not k.startswith(("mlflow.", "dataset_"))}
        child = _copy_run(client, experiment_id, source, parent, tags, {}, facts)
        older = client.get_run(child)
        assert "dataset_rows" not in older.data.tags and older.data.metrics["dataset_rows"] == 8000
        assert tracking.dataset_fact(older.data.tags.get("dataset_rows"), older.data.metrics.get("dataset_rows")) \
            == 8000
    client.set_terminated(parent, "FINISHED")

    for run_id in (sweep["parent"], parent):  # the new runs (tags) and the older ones (metrics)
        data = load_runs(sweep["uri"], parent_run_id=run_id)
        finished = data.finished[data.finished["strategy_name"] != "none"]
        assert finished["dataset_minority_fraction"].tolist() == [share] * len(finished)
        assert f"8,000 rows, {share:.2%} positives" in _context(finished)
        text = write_report(sweep["uri"], parent_run_id=run_id, output=tmp_path / f"{run_id}.html",
                            log_to_parent=False).read_text(encoding="utf-8")
        assert f"{share:.2%} positives" in text

    # the benchmark reads both alike, and heads the dataset's table with them
    from imbexp.benchmark._html import _dataset_facts
    from imbexp.benchmark._results import load_suite_runs

    newer = client.create_experiment("benchmark-newer-facts")  # the sweep's runs alone, as they are
    newer_parent = client.create_run(newer, run_name="newer").info.run_id
    for source in sources:
        _copy_run(client, newer, source, newer_parent,
                  {k: v for k, v in source.data.tags.items() if not k.startswith("mlflow.")}, {}, {})
    for experiment in (newer, experiment_id):
        frame = load_suite_runs(client, experiment, ["pr_auc"])
        assert not frame.empty
        assert frame["rows"].tolist() == [8000] * len(frame)
        assert frame["minority_fraction"].tolist() == [share] * len(frame)
        assert frame["positives"].tolist() == [round(share * 8000)] * len(frame)
        assert _dataset_facts(frame.iloc[0]) == \
            f"imbalance ratio {(1 - share) / share:.1f} · 8000 rows · {share * 8000:.0f} positives"


def test_the_benchmark_heads_a_multi_class_dataset_by_its_classes_not_nan_positives(sweep) -> None:
    """A multi-class run logs its classes and its smallest class's share, and no positives: the
    benchmark's heading of its dataset says those, where it once said "nan positives"."""
    from imbexp.benchmark._html import _dataset_facts
    from imbexp.benchmark._results import load_suite_runs

    client = sweep["client"]
    experiment_id = client.create_experiment("benchmark-multiclass-facts")
    parent = client.create_run(experiment_id, run_name="multi-class").info.run_id
    source = client.get_run(sweep["jobs"][0])
    tags = {k: v for k, v in source.data.tags.items() if not k.startswith(("mlflow.", "dataset_"))}
    tags.update({"dataset_rows": "6000", "dataset_features": "8", "dataset_classes": "4",
                 "dataset_minority_fraction": "0.00005"})
    _copy_run(client, experiment_id, source, parent, tags, {}, {})
    client.set_terminated(parent, "FINISHED")
    frame = load_suite_runs(client, experiment_id, ["pr_auc"])
    assert len(frame) == 1 and frame.at[0, "classes"] == 4 and frame.at[0, "minority_fraction"] == 5e-05
    heading = _dataset_facts(frame.iloc[0])
    assert heading == "4 classes · 6000 rows · smallest class 0.005 %", heading
    assert "nan" not in heading


#: strategies a report may hold beside the sweep's: more than a legend's ten, none to be merged
MORE_STRATEGIES = ("enn", "tomek_links", "near_miss v2", "oversample", "smote_enn", "class_weight", "rus",
                   "cluster_centroids")


def _legend_colors(figure) -> dict[str, tuple]:
    """Each legend entry of ``figure`` (its axes' and its own) and its colour, without what a
    figure adds to a series' name (`` (no factor)``, `` f=3``)."""
    import re

    from matplotlib.colors import to_rgb
    from matplotlib.lines import Line2D

    found = {}
    for legend in [*figure.legends, *(ax.get_legend() for ax in figure.axes if ax.get_legend())]:
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
            name = re.sub(r" \(no factor\)$| f=[\d.e+-]+$", "", text.get_text())
            if isinstance(handle, Line2D):
                found[name] = to_rgb(handle.get_color())
            elif len(handle.get_facecolor()):  # the Pareto front's rings are hollow
                found[name] = to_rgb(handle.get_facecolor()[0])
    return found


def test_a_run_has_one_series_and_one_colour_in_every_figure_and_no_strategy_is_merged(sweep, tmp_path) -> None:
    """The sweep's three strategies, smote at two sampling_strategy values (off the downsample_factor
    axis: its series name says its setting) and eight more strategies: 13 series, past a legend's
    ten, none of them merged into another, and each named and coloured alike by the claims figure,
    the reliability curves, the decision curve and the Pareto front."""
    from imbexp.report import choose_runs, decision_curves, decision_figure
    from imbexp.report._runs import read_predictions

    client = sweep["client"]
    experiment_id = client.create_experiment("report-one-series")
    parent = client.create_run(experiment_id, run_name="many").info.run_id
    sources = [client.get_run(run_id) for run_id in sweep["jobs"]]
    predictions = Path(client.download_artifacts(sources[0].info.run_id, "predictions/test.parquet", str(tmp_path)))
    for source in sources:
        tags = {k: v for k, v in source.data.tags.items() if not k.startswith("mlflow.")}
        _copy_run(client, experiment_id, source, parent, tags, {}, {}, predictions)
    extra = [("smote", "sampling_strategy", 0.25), ("smote", "sampling_strategy", 0.5),
             *((name, None, None) for name in MORE_STRATEGIES)]
    for number, (label, factor_name, factor) in enumerate(extra):
        tags = {k: v for k, v in sources[0].data.tags.items()
                if not k.startswith(("mlflow.", "imbexp.factor_name"))}
        tags.update({"imbexp.label": label, "strategy": label.split()[0]})
        metrics = {"test_pr_auc": 0.3 + 0.01 * number, "valid_ece": 0.01 + 0.001 * number}
        if factor_name:
            tags["imbexp.factor_name"] = factor_name
            metrics["imbexp.factor"] = factor
        _copy_run(client, experiment_id, sources[0], parent, tags, {}, metrics, predictions)
    client.set_terminated(parent, "FINISHED")

    data = load_runs(sweep["uri"], parent_run_id=parent)
    expected = {"downsample", "downsample +prior", "downsample_upweight", "smote sampling_strategy=0.25",
                "smote sampling_strategy=0.5", *MORE_STRATEGIES}
    assert set(data.finished["series"]) == expected
    two_objectives = dataclasses.replace(data, objective=Objective(("pr_auc", "ece"), ("maximize", "minimize")))
    claims = claims_figure(data.finished, data.facets)
    chosen = choose_runs(data)
    frames = read_predictions(data.tracking_uri, chosen.artifact_uris())
    reliability = [figure for _, figure, _ in reliability_figures(data, chosen, frames)][0]
    decision = decision_figure(*decision_curves(chosen.best, frames), chosen.palette)[1]
    pareto = pareto_section(two_objectives)[0]
    drawn = {name: _legend_colors(figure) for name, figure in
             (("claims", claims), ("reliability", reliability), ("decision", decision), ("pareto", pareto))}
    assert set(drawn["claims"]) == expected  # every strategy its own entry: none is "3 other series"
    for name in ("reliability", "decision", "pareto"):
        shown = {series: color for series, color in drawn[name].items()
                 if series != "Pareto front" and not series.startswith("treat ")}
        assert set(shown) == expected, name
        for series, color in shown.items():
            assert color == drawn["claims"][series], (name, series)
    assert len(set(drawn["claims"].values())) == len(expected)  # thirteen colours, none reused
    for figure in (claims, reliability, pareto):  # the long legends stay inside, clear of the panels
        assert_labels_inside(figure)
