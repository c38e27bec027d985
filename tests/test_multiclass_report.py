"""Multi-class plots and the report of multi-class runs.

The runs are logged with MlflowClient into a real SQLite store as a multi-class run logs them (tag
``imbexp.classes``, the metrics of ``imbexp.multiclass.metrics`` recomputed here with scikit-learn,
``predictions/test.parquet`` with ``y_true``, ``y_label``, ``y_pred`` and ``p_<key>``).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    recall_score,
    roc_auc_score,
)
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from test_report import (  # the page's images, headings and run rows, as the binary report's tests read them
    Page,
    assert_labels_inside,
)
from test_report_deltas import Tables

from imbexp.multiclass import plots
from imbexp.report import load_runs, write_report
from imbexp.report._figures import draw_against_factor
from imbexp.report._html import fmt
from imbexp.report._multiclass import best_run_figures, factor_panels

CLASSES = ("cat", "dog", "red fox")  # "red fox" is the key red_fox in metric and column names
KEYS = ("cat", "dog", "red_fox")
SHARES = (0.75, 0.2, 0.05)
ROWS = 1500
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _scores(seed: int, sharpness: float = 1.6, tilt: float = 0.0):
    """Codes y with SHARES and probabilities P (n, 3) that rank them, tilted towards class 0."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=ROWS, p=SHARES)
    logits = rng.normal(size=(ROWS, 3)) + sharpness * np.eye(3)[y] + np.log(SHARES)
    logits[:, 0] += tilt
    P = np.exp(logits)
    P /= P.sum(axis=1, keepdims=True)
    return y, P


def _metrics(y, P, pred) -> dict[str, float]:
    onehot = np.eye(3)[y]
    values = {
        "pr_auc": average_precision_score(onehot, P, average="macro"),
        "roc_auc": roc_auc_score(y, P, multi_class="ovr", average="macro"),
        "f1_macro": f1_score(y, pred, average="macro"),
        "balanced_accuracy": balanced_accuracy_score(y, pred),
        "log_loss": log_loss(y, P, labels=[0, 1, 2]),
        "ece": float(np.abs(P.max(axis=1).mean() - (pred == y).mean())),  # a stand-in: the report only shows it
    }
    recalls = recall_score(y, pred, average=None, labels=[0, 1, 2])
    for code, key in enumerate(KEYS):
        values[f"recall_{key}"] = float(recalls[code])
        values[f"prediction_bias_{key}"] = float(P[:, code].mean() - (y == code).mean())
    return values


def _log_run(client, experiment_id: str, parent: str, seed: int, strategy: str, label: str,
             factor: float | None = None, mapping: dict[str, float] | None = None, tilt: float = 0.0,
             tmp: Path | None = None) -> tuple[str, dict[str, float]]:
    y, P = _scores(seed, tilt=tilt)
    pred = P.argmax(axis=1)
    tags = {"mlflow.parentRunId": parent, "strategy": strategy, "model": "lightgbm", "dataset": "synthetic",
            "imbexp.label": label, "imbexp.classes": json.dumps(list(CLASSES))}
    if factor is not None:
        tags["imbexp.factor_name"] = "downsample_factor"
    run_id = client.create_run(experiment_id, run_name=f"{label} {seed}", tags=tags).info.run_id
    client.log_param(run_id, "strategy._target_", f"imbexp.strategies.{strategy}")
    for key, value in (mapping or {}).items():
        client.log_param(run_id, f"strategy.downsample_factor.{key}", str(value))
    test = _metrics(y, P, pred)
    logged = {f"test_{k}": v for k, v in test.items()}
    logged.update(valid_pr_auc=test["pr_auc"] - 0.01, fit_seconds=0.5 + seed / 10, train_rows=1000.0 / (factor or 1))
    if factor is not None:
        logged["imbexp.factor"] = factor
    for key, value in logged.items():
        client.log_metric(run_id, key, float(value))
    frame = pd.DataFrame({"y_true": y.astype(np.int16), "y_label": np.asarray(CLASSES)[y],
                          "y_pred": pred.astype(np.int16), **{f"p_{k}": P[:, c] for c, k in enumerate(KEYS)}})
    folder = tmp / run_id / "predictions"
    folder.mkdir(parents=True)
    frame.to_parquet(folder / "test.parquet")
    client.log_artifact(run_id, str(folder / "test.parquet"), "predictions")
    client.log_text(run_id, "objective:\n  metric: pr_auc\n  direction: auto\n", "config.yaml")
    client.set_terminated(run_id, "FINISHED")
    return run_id, logged


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A sweep parent with three factors of one strategy, a per-class mapping and a baseline."""
    from mlflow.tracking import MlflowClient

    home = tmp_path_factory.mktemp("multiclass-report")
    uri = f"sqlite:///{(home / 'mlflow.db').as_posix()}"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("multiclass", artifact_location=(home / "artifacts").as_uri())
    parent = client.create_run(experiment_id, run_name="multiclass sweep", tags={"imbexp.sweep": "grid"}).info.run_id
    runs = {}
    for seed, factor in enumerate((1.0, 3.0, 10.0)):
        runs[f"f{factor:g}"] = _log_run(client, experiment_id, parent, seed, "downsample_upweight",
                                        "downsample_upweight", factor=factor, tilt=-0.3 * seed, tmp=home)
    runs["mapping"] = _log_run(client, experiment_id, parent, 5, "downsample_upweight", "downsample_upweight",
                               mapping={"cat": 5, "dog": 2}, tilt=-0.5, tmp=home)
    runs["none"] = _log_run(client, experiment_id, parent, 6, "none", "none", tilt=0.4, tmp=home)
    # intervals and a paired comparison as imbexp.multiclass.intervals logs them, and a run that logged none
    f3, logged = runs["f3"]
    client.log_metric(f3, "test_f1_macro_ci_low", logged["test_f1_macro"] - 0.03)
    client.log_metric(f3, "test_f1_macro_ci_high", logged["test_f1_macro"] + 0.02)
    f10, logged = runs["f10"]
    delta = logged["test_log_loss"] - runs["none"][1]["test_log_loss"]
    for name, value in (("", delta), ("_ci_low", delta - 0.004), ("_ci_high", delta - 0.001)):
        client.log_metric(f10, f"test_log_loss_delta{name}", value)
    client.set_tag(f10, "imbexp.baseline_run_id", runs["none"][0])
    client.set_tag(runs["f1"][0], "imbexp.no_intervals", "no 95 % intervals: test has 12 rows of class 'red fox'")
    client.set_terminated(parent, "FINISHED")
    return {"home": home, "uri": uri, "client": client, "parent": parent, "runs": runs}


def _texts(ax) -> list[str]:
    return [text.get_text() for text in ax.texts]


def test_the_confusion_figure_holds_the_counts_and_row_shares_scikit_learn_computes() -> None:
    y, P = _scores(0)
    pred = P.argmax(axis=1)
    fig = plots.confusion_figure(y, pred, CLASSES)
    counts, shares = fig.axes[0], fig.axes[1]
    expected = sk_confusion_matrix(y, pred, labels=[0, 1, 2])
    # the cells' texts, row by row (true class), as scikit-learn's display draws them
    assert [int(text) for text in _texts(counts)] == expected.ravel().tolist()
    rows = expected / expected.sum(axis=1, keepdims=True)
    assert [float(text) for text in _texts(shares)] == pytest.approx(rows.ravel(), abs=0.005)
    assert np.allclose(np.array([float(t) for t in _texts(shares)]).reshape(3, 3).sum(axis=1), 1.0, atol=0.02)
    for ax in (counts, shares):
        assert [t.get_text() for t in ax.get_yticklabels()] == list(CLASSES)
        assert [t.get_text() for t in ax.get_xticklabels()] == list(CLASSES)


def test_the_plot_files_are_png(tmp_path) -> None:
    y, P = _scores(1)
    pred = P.argmax(axis=1)
    paths = [plots.confusion_matrix(y, pred, CLASSES, tmp_path / "plots" / "confusion_matrix.png"),
             plots.pr_curves(y, P, CLASSES, tmp_path / "plots" / "pr_curve.png"),
             plots.reliability(y, P, CLASSES, tmp_path / "plots" / "reliability.png", n_bins=10, p_true=P)]
    for path in paths:
        assert path.read_bytes()[:8] == PNG_MAGIC


def test_the_pr_figure_has_a_curve_and_a_dashed_share_per_class_with_its_ap() -> None:
    y, P = _scores(2)
    ax = plots.pr_figure(y, P, CLASSES).axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for code, label in enumerate(CLASSES):
        ap = average_precision_score(y == code, P[:, code])
        assert any(text.startswith(label) and f"{ap:.2f}" in text for text in legend), legend
    dashed = sorted(line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == "--")
    assert dashed == pytest.approx(sorted((y == code).mean() for code in range(3)))


def test_the_reliability_figure_has_a_panel_per_class_and_the_true_curve_where_known() -> None:
    y, P = _scores(3)
    fig = plots.reliability_figure(y, P, CLASSES, n_bins=10, p_true=P)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 3
    for code, ax in enumerate(panels):
        assert ax.get_title().startswith(CLASSES[code])
        observed, true, _diagonal = ax.get_lines()
        # the p_true curve of P against itself lies on the diagonal
        np.testing.assert_allclose(true.get_xdata(), true.get_ydata())
        assert len(observed.get_xdata()) == 10


def test_the_report_of_multiclass_runs_has_its_leaderboard_per_class_tables_and_figures(store, tmp_path) -> None:
    path = write_report(store["uri"], parent_run_id=store["parent"], output=tmp_path / "mc.html",
                        log_to_parent=False)
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert {"Leaderboard", "Per class", "Against the downsample factor"} <= set(page.headings)
    assert sorted(page.run_rows) == sorted(run_id for run_id, _ in store["runs"].values())
    # the factor figure and the best run's confusion, reliability and PR figures
    assert len(page.images) == 4
    for src in page.images:
        assert base64.b64decode(src.removeprefix("data:image/png;base64,"))[:8] == PNG_MAGIC
    tables = Tables(text).tables
    board = tables[0]
    head = board[0]
    for heading in ("macro PR-AUC", "macro F1", "balanced acc.", "log loss", "top-label ECE", "worst class recall"):
        assert heading in head
    rows = {row[0] + " " + row[1]: dict(zip(head, row, strict=True)) for row in board[1:]}
    mapping_label = "downsample_upweight downsample_factor={cat: 5, dog: 2} –"
    assert mapping_label in rows  # listed by its mapping, with no factor
    _, logged = store["runs"]["f3"]
    row = rows["downsample_upweight 3"]
    f1 = logged["test_f1_macro"]  # with the interval the run logged
    assert row["macro F1"] == f"{f1:.4f} [{f1 - 0.03:.4f}, {f1 + 0.02:.4f}]"
    assert row["balanced acc."] == f"{logged['test_balanced_accuracy']:.4f}"
    worst = min(KEYS, key=lambda key: logged[f"test_recall_{key}"])
    assert row["worst class recall"] == f"{logged[f'test_recall_{worst}']:.4f} ({CLASSES[KEYS.index(worst)]})"
    # the rows are ranked by the objective (valid macro PR-AUC)
    objective = [float(r[head.index("valid_pr_auc")]) for r in board[1:]]
    assert objective == sorted(objective, reverse=True)
    bias = next(t for t in tables if t[0][-3:] == list(CLASSES) and t is not board)
    bias_rows = {r[0] + " " + r[1]: r for r in bias[1:]}
    assert bias_rows["downsample_upweight 3"][-3:] == [fmt(logged[f"test_prediction_bias_{k}"]) for k in KEYS]
    assert "Best run:" in text and "classes: cat, dog, red fox" in text
    # the paired comparison with the baseline, on the metrics multi-class runs compare
    assert "Δ log loss vs baseline" in head and "Δ Brier vs baseline" in head and "Δ ECE vs baseline" not in head
    assert rows["downsample_upweight 10"]["Δ log loss vs baseline"].endswith("better")
    assert rows["none –"]["Δ log loss vs baseline"] == "baseline"
    # a run that logged no intervals says so where a multi-class run would have one (macro F1), not elsewhere
    assert rows["downsample_upweight 1"]["macro F1"].endswith("no interval")
    assert not rows["downsample_upweight 1"]["top-label ECE"].endswith("no interval")


def test_a_report_of_per_class_mappings_alone_draws_nothing_against_a_factor(store, tmp_path) -> None:
    client = store["client"]
    experiment_id = client.get_run(store["parent"]).info.experiment_id
    parent = client.create_run(experiment_id, run_name="mappings").info.run_id
    for seed, mapping in enumerate(({"cat": 5, "dog": 2}, {"cat": 10, "dog": 1})):
        _log_run(client, experiment_id, parent, 10 + seed, "downsample_upweight", "downsample_upweight",
                 mapping=mapping, tmp=store["home"] / "mappings")
    client.set_terminated(parent, "FINISHED")
    text = write_report(store["uri"], parent_run_id=parent, output=tmp_path / "m.html",
                        log_to_parent=False).read_text(encoding="utf-8")
    headings = set(Page(text).headings)
    assert "Leaderboard" in headings and not any(h.startswith("Against") for h in headings)
    assert "downsample_factor={cat: 10, dog: 1}" in text and "downsample_factor={cat: 5, dog: 2}" in text


def test_every_label_stays_inside_the_multiclass_figures(store) -> None:
    """As tests/test_report.py checks the binary figures: titles, tick labels, axis labels and
    legends inside the figure, no two panels running into each other, here with long labels too."""

    data = load_runs(store["uri"], parent_run_id=store["parent"])
    best = data.finished.sort_values("valid_pr_auc").iloc[-1]
    frame = pd.read_parquet(next((store["home"] / best["run_id"]).rglob("test.parquet")))
    figures = [figure for _, figure, _ in best_run_figures(best, frame)]
    figures.append(draw_against_factor(data.finished, factor_panels(data.finished), data.facets, cols=3,
                                       title="against the factor"))
    long = [f"a rather long class label {i}" for i in range(10)]
    rng = np.random.default_rng(4)
    y = rng.integers(0, 10, 2000)
    P = rng.dirichlet(np.ones(10), 2000)
    figures += [plots.confusion_figure(y, P.argmax(axis=1), long), plots.pr_figure(y, P, long),
                plots.reliability_figure(y, P, long)]
    assert len(figures) == 7 and all(figures)
    for figure, dpi in itertools.product(figures, (90, 100)):  # 90: the report's and the run's PNGs
        figure.set_dpi(dpi)
        assert_labels_inside(figure)


def test_the_worst_recall_is_the_least_recall_of_the_run_and_names_its_class(store) -> None:
    data = load_runs(store["uri"], parent_run_id=store["parent"])
    for _, row in data.finished.iterrows():
        recalls = {label: row[f"test_recall_{key}"] for label, key in zip(CLASSES, KEYS, strict=True)}
        assert row["test_recall_worst"] == min(recalls.values())
        assert row["worst_class"] == min(recalls, key=recalls.get)
    assert re.search(r"downsample_factor=\{cat: 5, dog: 2\}", " ".join(data.finished["strategy_label"]))


def test_the_cli_reports_multiclass_runs_and_saves_their_factor_figure(store, tmp_path, capsys) -> None:
    from imbexp.report import main

    png, page = tmp_path / "claims.png", tmp_path / "cli.html"
    assert main(["--tracking-uri", store["uri"], "--run", store["parent"], "--claims-figure", str(png),
                 "--output", str(page), "--no-log"]) == 0
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert capsys.readouterr().out.strip() == str(page)
    assert "Against the downsample factor" in Page(page.read_text(encoding="utf-8")).headings


def test_a_report_of_binary_and_multiclass_runs_draws_each_kind_from_its_own_predictions(store, tmp_path) -> None:
    client = store["client"]
    experiment_id = client.get_run(store["parent"]).info.experiment_id
    parent = client.create_run(experiment_id, run_name="mixed").info.run_id
    _log_run(client, experiment_id, parent, 20, "none", "none", tmp=store["home"] / "mixed")
    rng = np.random.default_rng(21)
    y = (rng.uniform(size=ROWS) < 0.1).astype(np.int8)
    score = np.clip(0.1 + 0.3 * (y - 0.1) + rng.normal(0, 0.05, ROWS), 1e-4, 1 - 1e-4)
    binary = client.create_run(experiment_id, run_name="binary", tags={
        "mlflow.parentRunId": parent, "strategy": "none", "imbexp.label": "none"}).info.run_id
    for key, value in (("test_pr_auc", average_precision_score(y, score)), ("valid_pr_auc", 0.5),
                       ("test_roc_auc", roc_auc_score(y, score))):
        client.log_metric(binary, key, float(value))
    folder = store["home"] / "mixed" / binary
    folder.mkdir(parents=True)
    pd.DataFrame({"y_true": y, "y_score": score}).to_parquet(folder / "test.parquet")
    client.log_artifact(binary, str(folder / "test.parquet"), "predictions")
    client.set_terminated(binary, "FINISHED")
    client.set_terminated(parent, "FINISHED")
    text = write_report(store["uri"], parent_run_id=parent, output=tmp_path / "mixed.html",
                        log_to_parent=False).read_text(encoding="utf-8")
    page = Page(text)
    assert {"Leaderboard", "Per class", "Reliability"} <= set(page.headings)
    assert len(page.run_rows) == 2
    # the binary reliability curve and decision curve, and the multi-class run's three figures
    assert len(page.images) == 5
