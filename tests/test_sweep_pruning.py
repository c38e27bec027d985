"""Pruning as a user runs it: real ``python -m imbexp`` sweeps under ``split=cv`` with each of
Optuna's pruners, the pruned trials in the study, their runs in MLflow and the counts printed.

The search space makes half the configurations clearly worse: LightGBM with
``min_child_samples=100000`` (more than the rows) grows no tree and predicts the prior, so its
valid PR-AUC is the positive share at every fold, far below the real models'. Each pruner's
settings let it act within a few trials (Optuna's defaults wait for 5 complete trials)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

optuna.logging.set_verbosity(optuna.logging.WARNING)

FOLDS = 4
TINY = ["dataset.rows=2000", "model.estimator.n_estimators=10", "tracking.log_model=false", "metrics.bootstrap=0"]
CV = ["split=cv", f"split.n_splits={FOLDS}"]
#: no tree can grow with more rows per leaf than the data has
BAD = 100000


def _sweep(run_cli, name: str, pruner: list[str], *extra: str, n_trials: int = 6, split: list[str] = CV):
    return run_cli("-m", "hydra/sweeper=imbexp_optuna", f"model.estimator.min_child_samples=choice(5, {BAD})",
                   f"hydra.sweeper.study_name={name}", f"hydra.sweeper.n_trials={n_trials}",
                   "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=1", f"tracking.experiment={name}",
                   *pruner, *TINY, *split, *extra)


def _study(home: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{home.as_posix()}/runs/optuna.db")


PRUNERS = {
    "median": ["hydra/sweeper/pruner=median", "hydra.sweeper.pruner.n_startup_trials=1"],
    "percentile": ["hydra/sweeper/pruner=percentile", "hydra.sweeper.pruner.percentile=50",
                   "hydra.sweeper.pruner.n_startup_trials=1"],
    "successive_halving": ["hydra/sweeper/pruner=successive_halving", "hydra.sweeper.pruner.min_resource=1",
                           "hydra.sweeper.pruner.reduction_factor=2"],
    "hyperband": ["hydra/sweeper/pruner=hyperband", f"hydra.sweeper.pruner.max_resource={FOLDS}",
                  "hydra.sweeper.pruner.reduction_factor=2"],
    # a one-sided signed-rank test on 3 folds, all worse than the best trial's, gives p = 1/8
    "wilcoxon": ["hydra/sweeper/pruner=wilcoxon", "hydra.sweeper.pruner.p_threshold=0.2"],
}


def _check_pruned_sweep(result, study: optuna.Study, client, pruner: str, n_trials: int) -> list:
    """What every pruner's sweep must show; returns the pruned trials."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Error executing job" not in result.stderr  # a pruned trial is not reported as a failed job
    trials = study.get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned, f"{pruner}: no trial pruned: {[(t.state.name, t.intermediate_values) for t in trials]}"
    # pruned trials count towards n_trials: none is replaced, nothing is left running
    assert len(complete) + len(pruned) == len(trials) == n_trials
    # the clearly worse configuration is stopped; the best trial is a real model
    assert any(t.params["model.estimator.min_child_samples"] == BAD for t in pruned)
    assert study.best_trial.params["model.estimator.min_child_samples"] == 5
    per_fold = pruner == "wilcoxon"
    for trial in complete:  # every fold reported; the last running mean (or the folds' mean) is the value
        assert sorted(trial.intermediate_values) == list(range(FOLDS))
        reported = list(trial.intermediate_values.values())
        assert (sum(reported) / FOLDS if per_fold else reported[-1]) == pytest.approx(trial.value)
    for trial in pruned:
        folds = len(trial.intermediate_values)
        assert 1 <= folds < FOLDS and trial.user_attrs["imbexp.pruned_at_step"] == folds - 1
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert run.info.status == "KILLED" and run.data.tags["imbexp.pruned"] == "true"
        assert f"pruned by hydra.sweeper.pruner={pruner} after {folds} fold(s)" in run.data.tags["imbexp.stop_reason"]
        # the folds done are kept as the run's valid metrics; it has no test metrics
        assert run.data.metrics["cv_folds_done"] == folds
        values = list(trial.intermediate_values.values())
        assert run.data.metrics["valid_pr_auc"] == pytest.approx(sum(values) / folds if per_fold else values[-1])
        assert not any(key.startswith("test_") for key in run.data.metrics)
    parent = client.get_run(study.user_attrs["mlflow_parent_run_id"])
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert "RUNNING" not in {c.info.status for c in children} and parent.info.status == "FINISHED"
    assert parent.data.metrics["trials_pruned"] == len(pruned)
    assert parent.data.metrics["trials_complete"] == len(complete)
    # the progress lines count them as they come, and the final table says how many there were
    assert f"{len(complete)} of {n_trials} complete, {len(pruned)} pruned" in result.stdout
    assert f"of {len(complete)} complete trials, {len(pruned)} pruned" in result.stdout
    return pruned


@pytest.mark.smoke
def test_a_median_pruned_sweep_stops_worse_trials_after_their_first_folds(run_cli, imbexp_home,
                                                                         mlflow_client) -> None:
    result = _sweep(run_cli, "prune-median", PRUNERS["median"])
    pruned = _check_pruned_sweep(result, _study(imbexp_home, "prune-median"), mlflow_client, "median", 6)
    # the median of the complete trials at fold 1 already rules a tree-less model out
    assert all(len(t.intermediate_values) == 1 for t in pruned if t.params["model.estimator.min_child_samples"] == BAD)


@pytest.mark.parametrize("pruner", ["percentile", "successive_halving", "hyperband", "wilcoxon"])
def test_each_pruner_prunes_a_cv_sweep(run_cli, imbexp_home, mlflow_client, pruner) -> None:
    name = f"prune-{pruner}"
    result = _sweep(run_cli, name, PRUNERS[pruner])
    _check_pruned_sweep(result, _study(imbexp_home, name), mlflow_client, pruner, 6)


def test_under_holdout_a_pruner_is_said_to_have_nothing_to_prune_once(run_cli, imbexp_home) -> None:
    # a name alone, as hydra.sweeper.pruner=NAME gives it, takes Optuna's defaults
    result = _sweep(run_cli, "prune-holdout", ["hydra.sweeper.pruner=median"], n_trials=3, split=["split=holdout"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("has nothing to prune under split=holdout") == 1
    study = _study(imbexp_home, "prune-holdout")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert not any(t.intermediate_values for t in study.trials)


@pytest.mark.parametrize(("args", "words"), [
    (["hydra.sweeper.pruner=medain"], "hydra.sweeper.pruner='medain' is not a known pruner; use one of none, median"),
    (["hydra/sweeper/pruner=median", "objective.metric=[pr_auc,ece]"], "Optuna cannot prune a multi-objective"),
])
def test_a_bad_pruner_is_one_sentence(run_cli, imbexp_home, args, words) -> None:
    result = _sweep(run_cli, "prune-bad", args)
    assert result.returncode == 2, result.stderr[-3000:]
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("imbexp: error: ")]
    assert words in error and "Traceback" not in result.stderr
    # refused before the study exists
    storage = imbexp_home / "runs" / "optuna.db"
    assert not storage.exists() or "prune-bad" not in optuna.get_all_study_names(f"sqlite:///{storage.as_posix()}")



@pytest.mark.parametrize(("spec", "words"), [
    ({"name": "percentile", "percentile": 150}, "Percentile must be between 0 and 100"),
    # Hyperband checks its settings only at its first report: refused here, not in every trial
    ({"_target_": "optuna.pruners.HyperbandPruner", "reduction_factor": 1}, "reduction_factor >= 2"),
    ({"name": "median", "n_startup_trialz": 1}, "did you mean hydra.sweeper.pruner.n_startup_trials?"),
])
def test_a_bad_pruner_setting_is_one_sentence_before_the_sweep(spec, words) -> None:
    from imbexp.errors import ConfigError
    from imbexp.sweeping import SweepSettings
    from imbexp.sweeping._pruning import make_pruner

    settings = SweepSettings.from_config({"pruner": spec})  # the name is checked with the other settings
    with pytest.raises(ConfigError, match="^hydra.sweeper.pruner") as error:
        make_pruner(settings.pruner, ["maximize"])
    assert words in str(error.value) and "\n" not in str(error.value)
