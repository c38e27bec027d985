"""One run end to end, in-process: what it logs to MLflow is what the tracking contract says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from imbexp import metrics as M
from imbexp.run import experiment

SMALL = ["dataset.rows=6000", "model.estimator.n_estimators=30"]


def test_run_logs_the_whole_contract(compose, mlflow_client) -> None:
    cfg = compose("strategy=downsample_upweight", "strategy.downsample_factor=5", *SMALL,
                  "tracking.experiment=contract", "tracking.log_model=auto")  # the default
    result = experiment(cfg)
    run = mlflow_client.get_run(result.run_id)
    logged = run.data.metrics
    for split in ("valid", "test"):
        for name in M.METRIC_NAMES:
            assert f"{split}_{name}" in logged, f"{split}_{name}"
        for name in M.THRESHOLD_METRICS:
            assert f"{split}_{name}_tuned" in logged
    for name in ("threshold_tuned", "train_rows", "train_positive_fraction", "train_weighted_positive_fraction",
                 "fit_seconds"):
        assert name in logged
    params = run.data.params
    assert params["strategy.downsample_factor"] == "5"
    assert params["strategy._target_"] == "imbexp.strategies.DownsampleUpweight"
    assert params["seed"] == "0" and params["split.kind"] == "holdout"
    assert params["model.estimator.n_estimators"] == "30"
    tags = run.data.tags
    assert tags["strategy"] == "downsample_upweight" and tags["model"] == "lightgbm"
    assert tags["dataset"] == "synthetic" and tags["degree"] == "moderate"
    assert tags["mlflow.runName"] == "f=5 · downsample_upweight · lightgbm"  # what differs leads
    # what a report groups and draws the run by, as the strategy states it
    assert tags["imbexp.label"] == "downsample_upweight" and tags["imbexp.factor_name"] == "downsample_factor"
    assert logged["imbexp.factor"] == 5.0
    # the dataset's facts are tags, the text of the number: MLflow's metric charts and compare
    # view open on what the runs vary, not on constants of the data
    assert not [key for key in logged if key.startswith("dataset_")]
    assert tags["dataset_rows"] == "6000" and tags["dataset_features"].isdigit()
    assert 0 < int(tags["dataset_positives"]) < 6000 and "dataset_classes" not in tags
    share = float(tags["dataset_minority_fraction"])
    assert share == int(tags["dataset_positives"]) / 6000 and repr(share) == tags["dataset_minority_fraction"]

    artifacts = {a.path for a in mlflow_client.list_artifacts(result.run_id)}
    assert {"config.yaml", "predictions", "plots"} <= artifacts
    # a single run logs its model (MLflow keeps it as a logged model whose source is the run)
    models = mlflow_client.search_logged_models([run.info.experiment_id])
    assert [(m.name, m.status.name) for m in models if m.source_run_id == result.run_id] == [("model", "READY")]
    plots = {a.path for a in mlflow_client.list_artifacts(result.run_id, "plots")}
    assert plots == {f"plots/{n}.png" for n in ("reliability", "pr_curve", "roc_curve", "confusion_matrix")}

    local = Path(mlflow_client.download_artifacts(result.run_id, "predictions/test.parquet"))
    frame = pd.read_parquet(local)
    y, p = frame["y_true"].to_numpy(), frame["y_score"].to_numpy()
    assert len(frame) == round(0.2 * 6000)
    assert logged["test_pr_auc"] == pytest.approx(skm.average_precision_score(y, p))
    assert logged["test_roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert logged["test_log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert logged["test_brier"] == pytest.approx(skm.brier_score_loss(y, p))
    assert logged["test_f1"] == pytest.approx(skm.f1_score(y, p >= 0.5))
    assert logged["test_kappa"] == pytest.approx(skm.cohen_kappa_score(y, p >= 0.5))
    assert logged["test_mcc"] == pytest.approx(skm.matthews_corrcoef(y, p >= 0.5))
    assert logged["test_f1_tuned"] == pytest.approx(skm.f1_score(y, p >= logged["threshold_tuned"]))
    assert logged["test_prediction_bias"] == pytest.approx(p.mean() - y.mean())
    # the objective returned to a sweeper is measured on valid, never on test
    assert result.value == pytest.approx(logged["valid_pr_auc"])
    # the training part was downsampled, valid and test were not
    assert logged["train_positive_fraction"] > 2 * share
    # upweighting the kept negatives by f = 5 gives the positives their share of the weight back
    assert logged["train_weighted_positive_fraction"] == pytest.approx(share, abs=0.01)
    assert frame["y_true"].mean() == pytest.approx(share, abs=0.005)


def test_same_seed_same_metrics_other_seed_other_split(compose) -> None:
    base = ["strategy=downsample_upweight", *SMALL, "tracking.experiment=seeds"]
    first = experiment(compose(*base, "seed=7"))
    second = experiment(compose(*base, "seed=7"))
    other = experiment(compose(*base, "seed=8"))
    noise = {"fit_seconds"}
    assert {k: v for k, v in first.metrics.items() if k not in noise} == \
           {k: v for k, v in second.metrics.items() if k not in noise}
    np.testing.assert_array_equal(first.test_scores, second.test_scores)
    assert first.metrics["test_pr_auc"] != other.metrics["test_pr_auc"]


def test_cv_returns_the_mean_over_folds_and_logs_the_spread(compose, mlflow_client) -> None:
    cfg = compose("split=cv", "split.n_splits=3", "split.n_repeats=2", *SMALL, "tracking.experiment=cv")
    result = experiment(cfg)
    logged = mlflow_client.get_run(result.run_id).data.metrics
    assert logged["cv_folds"] == 6
    assert logged["valid_pr_auc_std"] > 0
    assert result.value == pytest.approx(logged["valid_pr_auc"])


def test_multi_objective_returns_a_list(compose) -> None:
    cfg = compose(*SMALL, "objective.metric=[pr_auc,ece]", "tracking.experiment=multi")
    result = experiment(cfg)
    assert result.value == [result.metrics["valid_pr_auc"], result.metrics["valid_ece"]]
    assert result.objective.directions == ("maximize", "minimize")


def test_credentials_are_redacted_from_params_and_config(compose, mlflow_client) -> None:
    cfg = compose(*SMALL, "tracking.experiment=secrets",
                  "model.name=postgresql://alice:s3cr3t@db.example:5432/x")  # a key every model has
    result = experiment(cfg)
    run = mlflow_client.get_run(result.run_id)
    assert "s3cr3t" not in str(run.data.params)
    assert "alice:***@" in run.data.params["model.name"]
    config = Path(mlflow_client.download_artifacts(result.run_id, "config.yaml")).read_text()
    assert "s3cr3t" not in config and "alice:***@db.example" in config


def test_logged_model_loads_and_gives_the_logged_test_scores(compose, mlflow_client, monkeypatch) -> None:
    import lightgbm
    import mlflow
    import sklearn

    from imbexp.datasets import load_dataset
    from imbexp.splits import make_split

    cfg = compose("dataset=breast_cancer", "strategy=downsample_upweight", "strategy.downsample_factor=2",
                  "model.estimator.n_estimators=30", "tracking.log_model=true", "tracking.plots=false",
                  "tracking.experiment=logged-model")
    result = experiment(cfg)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")  # MLflow's guard for loading any model
    model = mlflow.sklearn.load_model(f"runs:/{result.run_id}/model")
    # its environment names the model's packages at the installed versions
    requirements = Path(mlflow.pyfunc.get_model_dependencies(f"runs:/{result.run_id}/model")).read_text().split()
    assert {f"lightgbm=={lightgbm.__version__}", f"scikit-learn=={sklearn.__version__}"} <= set(requirements)
    dataset = load_dataset(cfg.dataset)
    test_rows = make_split(dataset.y, cfg.split, int(cfg.seed)).test
    local = Path(mlflow_client.download_artifacts(result.run_id, "predictions/test.parquet"))
    logged = pd.read_parquet(local)["y_score"].to_numpy()
    np.testing.assert_allclose(model.predict_proba(dataset.features(test_rows))[:, 1], logged, rtol=1e-6)


UNSAVABLE = ["dataset=breast_cancer", "model=logistic_regression", "tracking.plots=false",
             "model.estimator.estimator._target_=custom_models.GeneratorLogistic"]


def test_a_model_mlflow_cannot_save_is_a_warning_by_default(compose, mlflow_client, caplog) -> None:
    cfg = compose(*UNSAVABLE, "tracking.log_model=auto", "tracking.experiment=unsavable-auto")
    result = experiment(cfg)
    run = mlflow_client.get_run(result.run_id)
    assert run.info.status == "FINISHED" and "valid_pr_auc" in run.data.metrics
    assert any("the model was not logged (TypeError" in r.getMessage() for r in caplog.records)
    assert not [m for m in mlflow_client.search_logged_models([run.info.experiment_id]) if m.status.name == "READY"]


def test_a_model_mlflow_cannot_save_fails_the_run_when_asked_for(compose, mlflow_client) -> None:
    from imbexp.errors import ImbexpError

    cfg = compose(*UNSAVABLE, "tracking.log_model=true", "tracking.experiment=unsavable-true")
    with pytest.raises(ImbexpError, match="tracking.log_model=true: the model could not be logged"):
        experiment(cfg)
    (run,) = mlflow_client.search_runs([mlflow_client.get_experiment_by_name("unsavable-true").experiment_id])
    assert run.info.status == "FAILED" and "test_pr_auc" in run.data.metrics  # what was logged stays
