"""Multi-class runs end to end: a 3-class CSV with text labels under every strategy and every
model, each run's logged metrics recomputed with scikit-learn and imbalanced-learn from its
predictions artifact; the refusals of what multi-class runs do not do; the per-class bias on
known probabilities with and without upweighting or the prior correction; a sweep over two
classes' factors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from components import Component, discover, fast_model, one_sentence
from imblearn.metrics import geometric_mean_score
from mlflow.artifacts import download_artifacts
from sklearn.datasets import make_classification
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    f1_score,
    log_loss,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)

from imbexp.errors import ConfigError
from imbexp.run import experiment

#: the file's labels: text with a space and a dash (class keys in metric names), sorted as read
LABELS = ("fault A", "fault-B", "ok")
SHARES = (0.10, 0.20, 0.70)


@pytest.fixture(scope="module")
def three_classes(tmp_path_factory) -> dict[str, str]:
    """A 3-class CSV: 3,000 rows at 10 / 20 / 70 %, enough rows in the smallest class for every
    sampler's neighbourhoods and clusters."""
    X, y = make_classification(3000, n_features=8, n_informative=5, n_classes=3, weights=list(SHARES),
                               class_sep=1.2, random_state=3)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["kind"] = np.asarray(LABELS)[y]
    path = tmp_path_factory.mktemp("multiclass") / "faults.csv"
    frame.to_csv(path, index=False)
    return {"path": path.as_posix(), "target": "kind"}


def _dataset(data: dict[str, str]) -> list[str]:
    return ["dataset=file", f"dataset.path={data['path']}", f"dataset.target={data['target']}", "dataset.name=faults"]


def _key(label: str) -> str:
    from imbexp.multiclass import class_key

    return class_key(label)


def _recompute(m: dict[str, float], frame: pd.DataFrame) -> None:
    """Every multi-class metric the run logged on test, recomputed from its predictions."""
    y, pred = frame["y_true"].to_numpy(), frame["y_pred"].to_numpy()
    P = frame[[f"p_{_key(label)}" for label in LABELS]].to_numpy()
    assert np.allclose(P.sum(axis=1), 1.0)
    labels = list(range(len(LABELS)))
    onehot = np.eye(len(LABELS))[y]
    expected = {
        "f1_macro": f1_score(y, pred, average="macro", labels=labels, zero_division=0),
        "f1_weighted": f1_score(y, pred, average="weighted", labels=labels, zero_division=0),
        "precision_macro": precision_score(y, pred, average="macro", labels=labels, zero_division=0),
        "recall_macro": recall_score(y, pred, average="macro", labels=labels, zero_division=0),
        "balanced_accuracy": balanced_accuracy_score(y, pred),
        "mcc": matthews_corrcoef(y, pred),
        "kappa": cohen_kappa_score(y, pred),
        "g_mean": geometric_mean_score(y, pred, average="multiclass"),
        "roc_auc": roc_auc_score(y, P, multi_class="ovr", average="macro"),
        "pr_auc": np.mean([average_precision_score(onehot[:, k], P[:, k]) for k in labels]),
        "log_loss": log_loss(y, P, labels=labels),
        "brier": np.mean(np.sum((P - onehot) ** 2, axis=1)),
    }
    for name, value in expected.items():
        assert m[f"test_{name}"] == pytest.approx(value, rel=1e-6, abs=1e-9), name
    recalls = recall_score(y, pred, average=None, labels=labels, zero_division=0)
    for k, label in enumerate(LABELS):
        assert m[f"test_recall_{_key(label)}"] == pytest.approx(recalls[k])
        assert m[f"test_prediction_bias_{_key(label)}"] == pytest.approx(P[:, k].mean() - np.mean(y == k))


STRATEGIES = [c for c in discover("strategy", variants=False)]
MODELS = [c for c in discover("model", variants=False)]


def _row_id(component: Component) -> str:
    return component.id


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES, ids=_row_id)
def test_every_strategy_runs_on_three_text_classes(compose, three_classes, mlflow_client, strategy) -> None:
    cfg = compose(*_dataset(three_classes), *strategy.choice, "model=logistic_regression",
                  "metrics.bootstrap=0", "tracking.experiment=multiclass-strategies")
    result = experiment(cfg)
    run = mlflow_client.get_run(result.run_id)
    assert json.loads(run.data.tags["imbexp.classes"]) == list(LABELS)
    frame = pd.read_parquet(download_artifacts(run_id=result.run_id, artifact_path="predictions/test.parquet"))
    assert list(frame["y_label"].unique()) != [] and set(frame["y_label"]) <= set(LABELS)
    _recompute(run.data.metrics, frame)
    assert run.data.metrics["test_roc_auc"] > 0.7, "every strategy should learn something"


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS, ids=_row_id)
def test_every_model_runs_on_three_text_classes(compose, three_classes, mlflow_client, model) -> None:
    plain = compose(*model.choice)
    overrides = [*_dataset(three_classes), *model.choice, *fast_model(plain), "metrics.bootstrap=0",
                 "tracking.experiment=multiclass-models"]
    if model.name == "isolation_forest":  # an anomaly detector scores one class against the rest
        with pytest.raises(ConfigError, match="isolation_forest|IsolationForest|anomaly"):
            experiment(compose(*overrides))
        return
    result = experiment(compose(*overrides))
    run = mlflow_client.get_run(result.run_id)
    frame = pd.read_parquet(download_artifacts(run_id=result.run_id, artifact_path="predictions/test.parquet"))
    _recompute(run.data.metrics, frame)
    assert run.data.metrics["test_roc_auc"] > 0.7


def test_a_single_run_logs_intervals_plots_and_prints_a_row_per_class(run_cli, three_classes, mlflow_client) -> None:
    done = run_cli(*_dataset(three_classes), "strategy=downsample_upweight", "strategy.downsample_factor=3",
                   "model=logistic_regression", "tracking.experiment=multiclass-cli", "metrics.bootstrap=200")
    assert done.returncode == 0, done.stderr[-3000:]
    for label in LABELS:
        assert any(line.strip().startswith(label) for line in done.stdout.splitlines()), done.stdout
    run_id = done.stdout.split("MLflow run ")[1].split()[0]
    run = mlflow_client.get_run(run_id)
    m = run.data.metrics
    assert run.data.tags["dataset_classes"] == "3" and "dataset_positives" not in run.data.tags
    assert not any(key.startswith("dataset_") for key in m)  # the dataset's facts are tags
    artifacts = {a.path for a in mlflow_client.list_artifacts(run_id, "plots")}
    assert artifacts == {"plots/confusion_matrix.png", "plots/pr_curve.png", "plots/reliability.png"}
    # the largest class (ok) was downsampled by 3 and upweighted by 3; the smallest kept whole
    assert m[f"train_weighted_class_fraction_{_key('ok')}"] == pytest.approx(0.70, abs=0.03)
    assert m[f"train_class_fraction_{_key('fault A')}"] > 0.10
    intervals = [name for name in m if name.endswith("_ci_low")]
    assert intervals, "a run with metrics.bootstrap > 0 and enough rows per class logs intervals"
    for name in intervals:
        base = name[: -len("_ci_low")]
        assert m[name] <= m[f"{base}_ci_high"]


def test_what_multiclass_runs_do_not_do_is_refused_in_one_sentence(run_cli, three_classes) -> None:
    data = _dataset(three_classes)
    cases = {
        "calibration=sigmoid": "calibration=sigmoid",
        "threshold.rule=fbeta": "threshold.rule=fbeta",
        "objective.metric=f1_tuned": "objective.metric=f1_tuned",
        "deployment.prevalence=0.01": "deployment.prevalence",
        "threshold.multiclass=cost_matrix": "threshold.cost_matrix",
        "threshold.cost_matrix={ok: {fault A: 5}}": "threshold.cost_matrix",
    }
    for override, named in cases.items():
        done = run_cli(*data, "model=logistic_regression", override, "tracking.experiment=multiclass-refusals")
        assert named in one_sentence(done), override


def test_a_multiclass_metric_on_a_binary_dataset_is_refused(run_cli) -> None:
    done = run_cli("objective.metric=f1_macro", "dataset.rows=2000", "tracking.experiment=multiclass-refusals")
    assert "objective.metric=f1_macro is a multi-class metric" in one_sentence(done)


def test_a_cost_matrix_that_prices_missing_a_class_raises_its_recall(compose, three_classes) -> None:
    base = [*_dataset(three_classes), "model=logistic_regression", "metrics.bootstrap=0",
            "tracking.experiment=multiclass-costs"]
    argmax = experiment(compose(*base)).metrics
    costly = experiment(compose(*base, "threshold.multiclass=cost_matrix",
                                "threshold.cost_matrix={fault A: {ok: 20, fault-B: 20}}")).metrics
    key = _key("fault A")
    assert costly[f"test_recall_{key}"] > argmax[f"test_recall_{key}"]
    assert costly[f"test_precision_{key}"] < argmax[f"test_precision_{key}"]


@pytest.mark.slow
def test_per_class_bias_on_known_probabilities_needs_upweighting_or_the_prior_correction(compose) -> None:
    """Downsampling the two larger classes by 10 moves the learned class prior: without
    upweighting, the smallest class is over-predicted; upweighting by the factor, or the
    generalised prior correction, brings every class's mean prediction back to its share."""
    data = ["dataset=known_prob", "dataset.classes=3", "dataset.class_fractions=[0.8,0.15,0.05]",
            "dataset.rows=60000", "model=logistic_regression", "metrics.bootstrap=0",
            "tracking.experiment=multiclass-bias"]
    keys = [_key(str(k)) for k in range(3)]

    def worst_bias(*overrides: str) -> float:
        m = experiment(compose(*data, *overrides)).metrics
        return max(abs(m[f"test_prediction_bias_{k}"]) for k in keys)

    shifted = worst_bias("strategy=downsample", "strategy.downsample_factor=10")
    upweighted = worst_bias("strategy=downsample_upweight", "strategy.downsample_factor=10")
    corrected = worst_bias("strategy=downsample_prior", "strategy.downsample_factor=10")
    assert shifted > 0.05, shifted
    assert upweighted < 0.01, upweighted
    assert corrected < 0.01, corrected


def test_a_sweep_searches_two_classes_factors(run_cli, mlflow_client, tmp_path) -> None:
    """A user's sweep file naming two classes' factors: each trial gets them as one mapping."""
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "two_classes.yaml").write_text(
        "# @package _global_\n"
        "defaults:\n  - override /strategy: downsample_upweight\n  - override /hydra/sweeper: imbexp_optuna\n"
        "hydra:\n  sweeper:\n    n_trials: 3\n    params:\n"
        "      strategy.downsample_factor.0: tag(log, interval(1, 5))\n"
        "      strategy.downsample_factor.1: tag(log, interval(1, 2))\n")
    done = run_cli(
        "-m", "sweep=two_classes", f"hydra.searchpath=[file://{tmp_path.as_posix()}]",
        "dataset=synthetic", "dataset.classes=3", "dataset.class_fractions=[0.7,0.2,0.1]",
        "dataset.rows=3000", "model=logistic_regression", "metrics.bootstrap=0",
        "hydra.sweeper.study_name=multiclass-factors", "hydra.sweeper.sampler.seed=1",
        "objective.metric=f1_macro", "tracking.experiment=multiclass-sweep", timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    experiment_id = mlflow_client.get_experiment_by_name("multiclass-sweep").experiment_id
    runs = [r for r in mlflow_client.search_runs([experiment_id])  # the trials, not the baseline run beside them
            if "mlflow.parentRunId" in r.data.tags and r.data.tags.get("strategy") == "downsample_upweight"]
    assert len(runs) == 3
    factors = {(r.data.params.get("strategy.downsample_factor.0"), r.data.params.get("strategy.downsample_factor.1"))
               for r in runs}
    assert len(factors) == 3 and all(None not in pair for pair in factors), factors
    for run in runs:  # class 0 kept about 1/f0 of its rows: its share of the training rows fell
        f0 = float(run.data.params["strategy.downsample_factor.0"])
        assert run.data.metrics["train_class_fraction_0"] == pytest.approx(
            0.7 / f0 / (0.7 / f0 + 0.2 / float(run.data.params["strategy.downsample_factor.1"]) + 0.1), abs=0.03)


def test_compare_to_pairs_two_multiclass_runs_row_by_row(compose, three_classes, mlflow_client) -> None:
    from imbexp import compare

    base = [*_dataset(three_classes), "model=logistic_regression", "metrics.bootstrap=200",
            "tracking.experiment=multiclass-compare"]
    plain = experiment(compose(*base))
    cfg = compose(*base, "strategy=class_weight", f"compare_to={plain.run_id}")
    compare.compare_to(cfg, experiment(cfg).run_id)
    runs = mlflow_client.search_runs([mlflow_client.get_experiment_by_name("multiclass-compare").experiment_id],
                                     filter_string="tags.strategy = 'class_weight'")
    (weighted,) = runs
    m = weighted.data.metrics
    assert weighted.data.tags["imbexp.compared_to"] == plain.run_id
    for metric in ("pr_auc", "roc_auc", "log_loss", "brier"):
        delta = m[f"test_{metric}_delta"]
        assert delta == pytest.approx(m[f"test_{metric}"] - plain.metrics[f"test_{metric}"], abs=1e-9), metric
        assert m[f"test_{metric}_delta_ci_low"] <= delta <= m[f"test_{metric}_delta_ci_high"], metric


@pytest.mark.slow
def test_a_grid_of_multiclass_runs_and_repeated_seeds_write_their_report(run_cli, three_classes, imbexp_home) -> None:
    done = run_cli("-m", *_dataset(three_classes), "strategy=downsample_upweight", "strategy.downsample_factor=1,3",
                   "model=logistic_regression", "metrics.bootstrap=0", "repeats=2",
                   "tracking.experiment=multiclass-grid", timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = [line for line in (done.stdout + done.stderr).splitlines() if "report written to" in line]
    assert found, done.stdout[-3000:]
    page = Path(found[-1].split("report written to ", 1)[1].strip()).read_text()
    assert "Per class" in page and "macro F1" in page and "data:image/png;base64," in page


def test_review_cases_are_one_sentence_or_work(compose, three_classes) -> None:
    """Cases a reader of the code found: each is one sentence, or runs as the docs say."""
    import numpy as np_

    from imbexp.errors import DataError
    from imbexp.splits import make_split

    # multi-class threshold keys on binary data are refused, not ignored
    with pytest.raises(ConfigError, match="threshold.multiclass"):
        experiment(compose("dataset.rows=2000", "threshold.multiclass=cost_matrix",
                           "threshold.cost_matrix={0: {1: 5}}", "tracking.experiment=multiclass-review"))
    # an under-sampler's ratio that asks no class for fewer rows says so (it is not 'auto')
    with pytest.raises(DataError, match="asks no class for fewer rows"):
        experiment(compose(*_dataset(three_classes), "strategy=imblearn",
                           "strategy.sampler._target_=imblearn.under_sampling.RandomUnderSampler",
                           "+strategy.sampler.sampling_strategy=0.01", "model=logistic_regression",
                           "metrics.bootstrap=0", "tracking.experiment=multiclass-review"))
    # a time split whose test part lacks the highest class code is refused
    y = np_.array([0, 1] * 50 + [2] * 10 + [0, 1] * 50, dtype=np_.int16)  # class 2 only early: not in test
    with pytest.raises(DataError, match="part of split=time .* has no rows of class 2"):
        make_split(y, compose("split=time").split, 0, time=np_.arange(len(y), dtype=np_.float64))
    # XGBoost's binary early-stopping metric is moved to its multi-class one
    m = experiment(compose(*_dataset(three_classes), "model=xgboost", "model.early_stopping_rounds=5",
                           "model.estimator.n_estimators=30", "metrics.bootstrap=0",
                           "tracking.experiment=multiclass-review")).metrics
    assert m["test_roc_auc"] > 0.7
