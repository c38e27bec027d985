"""The report's statistics: paired deltas and their verdicts, runs of repeated seeds, runs without
intervals, the calibration metrics and the decision curve.

The runs are logged with MlflowClient into a real SQLite store, as a run logs them (metrics, tags,
``predictions/test.parquet``), with values computed by :mod:`imbexp.intervals` from real scores.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from imbexp import intervals
from imbexp.metrics import evaluate
from imbexp.report import (
    choose_runs,
    decision_curves,
    decision_figure,
    factor_table,
    leaderboard,
    load_runs,
    recent_parent_runs,
    write_report,
)
from imbexp.report._runs import read_predictions

ROWS = 3000
PREVALENCE = 0.08


class Tables(HTMLParser):
    """Each table of a page as rows of cell texts (a cell's spans joined by single spaces), the
    css class of every row, and each paragraph's text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.row_classes: list[list[str]] = []
        self.paragraphs: list[str] = []
        self._cell: list[str] | None = None
        self._paragraph: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
            self.row_classes.append([])
        elif tag == "tr":
            self.tables[-1].append([])
            self.row_classes[-1].append(dict(attrs).get("class") or "")
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "p":
            self._paragraph = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join(part for part in self._cell if part))
            self._cell = None
        elif tag == "p" and self._paragraph is not None:
            self.paragraphs.append(" ".join(self._paragraph))
            self._paragraph = None

    def handle_data(self, data: str) -> None:
        for collecting in (self._cell, self._paragraph):
            if collecting is not None:
                collecting.append(" ".join(data.split()))

    def table_with(self, heading: str) -> list[dict[str, str]]:
        """The first table with the column ``heading``, each row as {heading: cell}."""
        for table in self.tables:
            if heading in table[0]:
                return [dict(zip(table[0], row, strict=True)) for row in table[1:]]
        raise AssertionError(f"no table has the column {heading!r}")


def _scores(rng: np.random.Generator, y: np.ndarray, separation: float) -> np.ndarray:
    """Scores on the probability scale that rank the positives by ``separation``."""
    base = np.log(PREVALENCE / (1 - PREVALENCE))
    return expit(base + separation * (y - PREVALENCE) + rng.normal(0.0, 1.0, y.size))


def _run_metrics(y: np.ndarray, score: np.ndarray, threshold: float, with_intervals: bool = True) -> dict[str, float]:
    """What a run logs on test (and its objective on valid), computed from its scores."""
    values = {**evaluate(y, score, threshold), **intervals.calibration_metrics(y, score, threshold)}
    out = {f"test_{name}": value for name, value in values.items()}
    out.update(valid_pr_auc=values["pr_auc"], threshold_tuned=threshold, fit_seconds=1.0, train_rows=float(y.size))
    if with_intervals:
        for name, (low, high) in intervals.intervals(y, score, threshold, n_resamples=100).items():
            out[f"test_{name}_ci_low"], out[f"test_{name}_ci_high"] = low, high
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A grid parent with a baseline, a run with logged deltas, a run whose scores were shuffled
    (deltas by intervals.paired), a run too small for intervals and a group of three seeds; and a
    second experiment with one run that logged no deltas (an older store)."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("report-deltas")
    uri = f"sqlite:///{(root / 'mlflow.db').as_posix()}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("deltas", artifact_location=(root / "artifacts").as_uri())
    older = client.create_experiment("older", artifact_location=(root / "artifacts-older").as_uri())
    rng = np.random.default_rng(13)

    def log(name: str, label: str, metrics: dict[str, float], *, experiment_id: str = experiment,
            strategy: str | None = None, factor: float | None = None, parent: str | None = None,
            predictions: tuple[np.ndarray, np.ndarray] | None = None, **tags: str) -> str:
        tags = {"strategy": strategy or label, "imbexp.label": label, "dataset": "known_prob",
                "model": "lightgbm", **tags}
        if parent is not None:
            tags["mlflow.parentRunId"] = parent
        if factor is not None:
            tags["imbexp.factor_name"] = "downsample_factor"
            metrics = {**metrics, "imbexp.factor": factor}
        run_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        client.log_batch(run_id, metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items() if np.isfinite(v)])
        if predictions is not None:
            folder = root / run_id
            folder.mkdir()
            pd.DataFrame({"y_true": predictions[0], "y_score": predictions[1]}).to_parquet(folder / "test.parquet")
            client.log_artifact(run_id, str(folder / "test.parquet"), "predictions")
        client.set_terminated(run_id, "FINISHED")
        return run_id

    grid = client.create_run(experiment, run_name="grid", tags={"imbexp.sweep": "grid"}).info.run_id
    y = (rng.random(ROWS) < PREVALENCE).astype(int)
    base_score = _scores(rng, y, 2.5)
    baseline = log("none", "none", _run_metrics(y, base_score, 0.15), parent=grid, predictions=(y, base_score))

    better_score = _scores(rng, y, 3.0)
    logged = {  # as a run logs them: test_<m>_delta, _ci_low, _ci_high, _p
        "pr_auc": intervals.Delta(0.031, 0.011, 0.059, 0.002, "bc"),
        "roc_auc": intervals.Delta(0.004, -0.006, 0.014, 0.41, "delong"),
        "ece": intervals.Delta(0.012, 0.004, 0.020, 0.003, "basic"),
        "prediction_bias": intervals.Delta(-0.0021, -0.0043, -0.0003, 0.02, "normal_mean"),
    }
    factor1_score = _scores(rng, y, 2.8)
    factor1 = log("downsample_upweight f=1", "downsample_upweight", _run_metrics(y, factor1_score, 0.15),
                  factor=1.0, parent=grid, predictions=(y, factor1_score), **{"imbexp.baseline_run_id": baseline})
    against_factor1 = intervals.paired(y, better_score, factor1_score, 0.2, 0.15, n_resamples=100, seed=1)
    better = log("downsample_upweight f=5", "downsample_upweight", {
        **_run_metrics(y, better_score, 0.2), **intervals.delta_metrics(logged),
        **intervals.delta_metrics(against_factor1, "_vs_factor1")}, factor=5.0, parent=grid,
        predictions=(y, better_score), **{"imbexp.baseline_run_id": baseline, "imbexp.factor1_run_id": factor1})
    twice = []  # two runs of one configuration, one found better and one not
    for pr_auc in (intervals.Delta(0.02, 0.01, 0.03, 0.01, "bc"), intervals.Delta(0.01, -0.01, 0.03, 0.3, "bc")):
        score = _scores(rng, y, 2.6)
        twice.append(log("downsample +prior f=20", "downsample +prior", {
            **_run_metrics(y, score, 0.15), **intervals.delta_metrics({"pr_auc": pr_auc})}, strategy="downsample",
            factor=20.0, parent=grid, predictions=(y, score), **{"imbexp.baseline_run_id": baseline}))

    shuffled = rng.permutation(base_score)
    paired = intervals.paired(y, shuffled, base_score, 0.15, 0.15, n_resamples=200, seed=0)
    crippled = log("shuffled", "oversample", {**_run_metrics(y, shuffled, 0.15), **intervals.delta_metrics(paired)},
                   parent=grid, predictions=(y, shuffled), **{"imbexp.baseline_run_id": baseline})

    few = y[:200].copy()
    few[:] = 0
    few[:6] = 1  # 6 test positives: too few for an interval
    reason = intervals.too_few(few)
    small = log("class_weight", "class_weight", _run_metrics(few, _scores(rng, few, 3.0), 0.1, with_intervals=False),
                parent=grid, **{"imbexp.no_intervals": reason})

    def group(label: str, factor: float, summarise: bool) -> tuple[str, list[str], list[dict[str, float]]]:
        group_id = client.create_run(experiment, run_name=f"{label} repeats=3", tags={
            "mlflow.parentRunId": grid, "imbexp.repeats": "3", "strategy": label, "imbexp.label": label,
            "imbexp.factor_name": "downsample_factor", "dataset": "known_prob", "model": "lightgbm"}).info.run_id
        seeds, values = [], []
        for repeat in range(3):
            ys = (rng.random(ROWS) < PREVALENCE).astype(int)
            score = _scores(rng, ys, 2.0 + 0.4 * repeat)
            metrics = _run_metrics(ys, score, 0.1 + 0.02 * repeat, with_intervals=False)
            deltas = intervals.paired(ys, score, _scores(rng, ys, 2.5), 0.1, 0.1, n_resamples=100, seed=repeat)
            metrics.update(intervals.delta_metrics(deltas))
            values.append(metrics)
            seed_tags = {"imbexp.repeat_group": group_id, "imbexp.repeat": str(repeat)}
            seeds.append(log(f"{label} seed {repeat}", label, metrics, factor=factor, parent=group_id,
                             predictions=(ys, score), **seed_tags))
        if summarise:  # as the group run logs them: the mean, _sd and the seed interval of each metric
            summary: dict[str, float] = {"imbexp.factor": factor}
            for key in values[0]:
                if "_delta" in key:
                    continue
                mean, sd, low, high = intervals.seed_interval([v[key] for v in values])
                summary.update({key: mean, f"{key}_sd": sd})
                if key.startswith("test_"):
                    summary.update({f"{key}_seed_ci_low": low, f"{key}_seed_ci_high": high})
            for metric in intervals.DELTA_METRICS:
                mean, _, low, high = intervals.seed_interval([v[f"test_{metric}_delta"] for v in values])
                summary.update({f"test_{metric}_delta": mean, f"test_{metric}_delta_ci_low": low,
                                f"test_{metric}_delta_ci_high": high})
            client.log_batch(group_id, metrics=[Metric(k, float(v), 0, 0) for k, v in summary.items()
                                                if np.isfinite(v)])
        client.set_terminated(group_id, "FINISHED")
        return group_id, seeds, values

    group_id, seeds, seed_values = group("downsample", 10.0, summarise=True)
    stopped_id, stopped_seeds, stopped_values = group("smote", 3.0, summarise=False)
    client.set_terminated(grid, "FINISHED")

    plain = log("old run", "none", _run_metrics(y, base_score, 0.15, with_intervals=False), experiment_id=older)
    return {"root": root, "uri": uri, "client": client, "grid": grid, "baseline": baseline, "better": better,
            "factor1": factor1, "against_factor1": against_factor1, "twice": twice,
            "crippled": crippled, "paired": paired, "small": small, "reason": reason, "group": group_id,
            "seeds": seeds, "seed_values": seed_values, "stopped": stopped_id, "stopped_seeds": stopped_seeds,
            "stopped_values": stopped_values,
            "plain": plain, "logged": logged}


@pytest.fixture(scope="module")
def page(store) -> Tables:
    path = write_report(store["uri"], parent_run_id=store["grid"], output=store["root"] / "grid.html",
                        log_to_parent=False)
    return Tables(path.read_text(encoding="utf-8"))


def _row(rows: list[dict[str, str]], strategy: str, factor: str | None = None) -> dict[str, str]:
    found = [row for row in rows if row["strategy"] == strategy and factor in (None, row["factor"])]
    assert len(found) == 1, [(row["strategy"], row["factor"]) for row in rows]
    return found[0]


def test_logged_deltas_read_as_better_worse_or_no_detectable_difference(store, page) -> None:
    rows = page.table_with("Δ PR-AUC vs baseline")
    better = _row(rows, "downsample_upweight", "5")
    assert better["Δ PR-AUC vs baseline"] == "+0.031 [+0.011, +0.059] better"
    assert better["Δ ROC-AUC vs baseline"].endswith("no detectable difference")
    assert better["Δ ECE vs baseline"].endswith(" worse")  # a higher ECE is worse
    assert better["Δ pred. bias vs baseline"].endswith(" lower")
    assert all(cell == "baseline" for key, cell in _row(rows, "none").items() if key.endswith("vs baseline"))
    assert all(cell == "–" for key, cell in _row(rows, "class_weight").items() if key.startswith("Δ"))


def test_a_factor_is_also_compared_with_factor_1(store, page) -> None:
    rows = page.table_with("Δ PR-AUC vs factor 1")
    delta = store["against_factor1"]["roc_auc"]
    cell = _row(rows, "downsample_upweight", "5")["Δ ROC-AUC vs factor 1"]
    assert cell.endswith(" " + delta.verdict("roc_auc"))
    assert f"{delta.value:+.3f}"[:5] in cell
    assert _row(rows, "downsample_upweight", "1")["Δ ROC-AUC vs factor 1"] == "reference"


def test_several_runs_of_one_configuration_say_how_many_found_what(store, page) -> None:
    cell = _row(page.table_with("Δ PR-AUC vs baseline"), "downsample +prior")["Δ PR-AUC vs baseline"]
    values = [store["client"].get_run(run).data.metrics["test_pr_auc_delta"] for run in store["twice"]]
    assert cell == (f"{np.mean(values):+.3f} ± {np.std(values, ddof=1):.3f} "
                    "mixed: 1 better, 1 no detectable difference")


def test_shuffled_scores_are_found_worse_than_their_baseline(store, page) -> None:
    cell = _row(page.table_with("Δ PR-AUC vs baseline"), "oversample")["Δ PR-AUC vs baseline"]
    delta = store["paired"]["pr_auc"]
    assert delta.high < 0
    assert cell.endswith(" worse") and cell.startswith(f"{delta.value:+.3f}"[:5])


def test_the_delta_legend_names_the_paired_methods_and_the_interval_legend_the_interval_methods(page) -> None:
    legend = next(p for p in page.paragraphs if p.startswith("Δ vs baseline"))
    for metric in ("pr_auc", "roc_auc", "ece", "prediction_bias"):
        assert intervals.METHOD_WORDS[intervals.DELTA_METHODS[metric]] in legend
    assert any(intervals.method_summary() in p for p in page.paragraphs)


def test_a_group_of_seeds_is_one_row_with_its_mean_sd_and_seed_interval(store, page) -> None:
    rows = page.table_with("PR-AUC")
    row = _row(rows, "downsample")
    assert row["runs"] == "3 seeds"
    values = [v["test_pr_auc"] for v in store["seed_values"]]
    mean, sd, low, high = intervals.seed_interval(values)
    assert row["PR-AUC"] == f"{mean:.4f} ± {sd:.4f} [{low:.4f}, {high:.4f}]"
    # every run is listed, each seed once, under its group
    every = page.table_with("run id")
    ids = [r["run id"] for r in every]
    runs = [store[k] for k in ("baseline", "factor1", "better", "crippled", "small", "group", "stopped")]
    assert sorted(ids) == sorted(runs + store["twice"] + store["seeds"] + store["stopped_seeds"])
    position = ids.index(store["group"])
    assert ids[position + 1:position + 4] == store["seeds"]
    assert all("seed" in css for css in _classes_of(page, "run id")[position + 1:position + 4])


def _classes_of(page: Tables, heading: str) -> list[str]:
    index = next(i for i, table in enumerate(page.tables) if heading in table[0])
    return page.row_classes[index][1:]


def test_a_group_that_logged_no_summary_reads_as_the_mean_of_its_seeds(store) -> None:
    table = leaderboard(load_runs(store["uri"], parent_run_id=store["grid"]))
    row = table[table["strategy_label"] == "smote"].iloc[0]
    values = [v["test_pr_auc"] for v in store["stopped_values"]]
    assert row["runs"] == 1 and row["seeds"] == 3
    assert row["test_pr_auc"] == pytest.approx(np.mean(values))
    assert row["test_pr_auc_sd"] == pytest.approx(np.std(values, ddof=1))
    assert (table["strategy_label"] == "downsample").sum() == 1


def test_claims_bands_of_a_group_are_its_seed_interval(store) -> None:
    data = load_runs(store["uri"], parent_run_id=store["grid"])
    table = factor_table(data.finished, ["test_pr_auc"])
    row = table[table["series"] == "downsample"].iloc[0]
    _, _, low, high = intervals.seed_interval([v["test_pr_auc"] for v in store["seed_values"]])
    assert (row["test_pr_auc_ci_low"], row["test_pr_auc_ci_high"]) == pytest.approx((low, high))


def test_a_run_without_intervals_shows_its_reason(store, page) -> None:
    row = _row(page.table_with("PR-AUC"), "class_weight")
    assert row["PR-AUC"].endswith("no interval") and "[" not in row["PR-AUC"]
    assert f"class_weight: {store['reason']}." in page.paragraphs


def test_the_calibration_table_shows_the_new_metrics_with_their_intervals(store, page) -> None:
    run = store["client"].get_run(store["baseline"]).data.metrics
    row = _row(page.table_with("calibration slope"), "none")
    for metric, heading in (("calibration_intercept", "calibration intercept"),
                            ("calibration_slope", "calibration slope"), ("net_benefit", "net benefit @ tuned")):
        low, high = run[f"test_{metric}_ci_low"], run[f"test_{metric}_ci_high"]
        assert row[heading] == f"{run[f'test_{metric}']:.4f} [{low:.4f}, {high:.4f}]"


def test_the_decision_curve_is_the_net_benefit_of_the_predictions(store) -> None:
    data = load_runs(store["uri"], parent_run_id=store["grid"])
    chosen = choose_runs(data)
    frames = read_predictions(data.tracking_uri, chosen.artifact_uris())
    curves, marks = decision_curves(chosen.best, frames)
    assert set(curves["series"]) == {"none", "downsample_upweight", "downsample +prior", "oversample", "downsample",
                                     "smote"}
    # a group is drawn from its first seed's predictions
    assert curves.loc[curves["series"] == "downsample", "run_id"].iloc[0] == store["seeds"][0]
    part = curves[curves["series"] == "downsample_upweight"].reset_index(drop=True)
    t = float(part["threshold"].iloc[len(part) // 3])
    frame = frames[store["better"]]
    y, treated = frame["y_true"].to_numpy(), frame["y_score"].to_numpy() >= t
    by_hand = np.sum(treated & (y == 1)) / y.size - np.sum(treated & (y == 0)) / y.size * t / (1 - t)
    assert 0 < t < 1 and by_hand != 0
    assert part["net_benefit"].iloc[len(part) // 3] == pytest.approx(by_hand)
    prevalence = y.mean()
    assert part["treat_all"].iloc[len(part) // 3] == pytest.approx(prevalence - (1 - prevalence) * t / (1 - t))
    # each run's tuned threshold is marked, at the net benefit the run logged
    mark = marks[marks["run_id"] == store["better"]].iloc[0]
    logged = store["client"].get_run(store["better"]).data.metrics
    assert mark["threshold"] == logged["threshold_tuned"]
    assert mark["net_benefit"] == pytest.approx(logged["test_net_benefit"])
    assert part["threshold"].max() >= mark["threshold"]


def test_the_decision_curve_is_drawn_beside_the_reliability_section(store) -> None:
    text = write_report(store["uri"], parent_run_id=store["grid"], output=store["root"] / "again.html",
                        log_to_parent=False).read_text(encoding="utf-8")
    assert text.index("<h2>Reliability</h2>") < text.index("<h2>Decision curve</h2>") < text.index("<h2>Every run")
    section = text[text.index("<h2>Decision curve</h2>"):text.index("<h2>Every run")]
    assert '<img src="data:image/png;base64,' in section


def test_the_decision_curve_keeps_its_legend_inside_the_figure_and_off_the_panel(store) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    data = load_runs(store["uri"], parent_run_id=store["grid"])
    chosen = choose_runs(data)
    _, figure, _ = decision_figure(*decision_curves(chosen.best, read_predictions(data.tracking_uri,
                                                                               chosen.artifact_uris())))
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    (ax,) = figure.axes
    panel, legend = ax.get_window_extent(renderer), ax.get_legend().get_window_extent(renderer)
    for box in (ax.get_tightbbox(renderer), legend):
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= figure.bbox.x1 and box.y1 <= figure.bbox.y1, box
    assert not panel.overlaps(legend)


def test_the_latest_sweep_is_the_grid_not_one_of_its_groups(store) -> None:
    parents = recent_parent_runs(store["client"], limit=5)
    assert parents[0].info.run_id == store["grid"]
    assert store["group"] not in [run.info.run_id for run in parents]
    alone = load_runs(store["uri"], parent_run_id=store["group"])  # a group reported on its own
    assert alone.title.startswith("Repeated run") and alone.runs["run_id"].tolist() == [store["group"]]
    assert alone.seeds_of(store["group"])["run_id"].tolist() == store["seeds"]
    experiment = load_runs(store["uri"], experiment="deltas")
    assert sorted(experiment.runs["run_id"]) == sorted(load_runs(store["uri"], parent_run_id=store["grid"]).runs[
        "run_id"])


def test_runs_without_deltas_show_no_comparison(store, tmp_path: Path) -> None:
    text = write_report(store["uri"], experiment="older", output=tmp_path / "older.html").read_text(encoding="utf-8")
    assert "Δ" not in text and "baseline</td>" not in text and 'class="verdict' not in text
    rows = Tables(text).table_with("PR-AUC")
    assert len(rows) == 1 and "[" not in rows[0]["PR-AUC"]
