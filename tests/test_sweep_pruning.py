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
#: the space has two configurations, so 6 trials draw each again; with deduplication on, the
#: repeats are answered from the store and never run, and the pruners would have nothing to stop
EVERY_DRAW_RUNS = ["hydra.sweeper.deduplicate=false"]


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
    result = _sweep(run_cli, "prune-median", PRUNERS["median"], *EVERY_DRAW_RUNS)
    pruned = _check_pruned_sweep(result, _study(imbexp_home, "prune-median"), mlflow_client, "median", 6)
    # the median of the complete trials at fold 1 already rules a tree-less model out
    assert all(len(t.intermediate_values) == 1 for t in pruned if t.params["model.estimator.min_child_samples"] == BAD)


@pytest.mark.parametrize("pruner", ["percentile", "successive_halving", "hyperband", "wilcoxon"])
def test_each_pruner_prunes_a_cv_sweep(run_cli, imbexp_home, mlflow_client, pruner) -> None:
    name = f"prune-{pruner}"
    result = _sweep(run_cli, name, PRUNERS[pruner], *EVERY_DRAW_RUNS)
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


def test_a_pruned_grid_point_is_done_and_the_grid_sweep_ends(run_cli, imbexp_home) -> None:
    # the grid's seed puts the real model first, so the tree-less point is pruned after it
    result = _sweep(run_cli, "prune-grid", PRUNERS["median"], "hydra/sweeper/sampler=grid",
                    "hydra.sweeper.sampler.seed=1", n_trials=2)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    trials = _study(imbexp_home, "prune-grid").trials
    ran = [t for t in trials if t.state == TrialState.COMPLETE or "imbexp.pruned_at_step" in t.user_attrs]
    assert sorted((t.params["model.estimator.min_child_samples"], t.state.name) for t in ran) == [
        (5, "COMPLETE"), (BAD, "PRUNED")]
    # one line per point run; none for a point drawn again and dropped
    assert len([line for line in result.stdout.splitlines() if line.startswith("[sweep] trial ")]) == len(ran)


def _pruned_study() -> optuna.Study:
    """An in-memory study whose trial 0 (a=1) completed after 3 reports and trial 1 (a=2) was
    pruned after 1, as the sweep records them."""
    from imbexp import names

    study = optuna.create_study(direction="maximize")
    for a, reports in ((1, [0.5, 0.6, 0.7]), (2, [0.1])):
        study.enqueue_trial({"a": a})
        trial = study.ask()
        trial.suggest_categorical("a", [1, 2])
        for step, value in enumerate(reports):
            trial.report(value, step)
        if len(reports) == 1:
            trial.set_user_attr(names.TRIAL_PRUNED_ATTR, 0)
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, reports[-1])
    return study


@pytest.mark.parametrize("a", [1, 2])
def test_a_repeated_configuration_is_answered_as_its_original_ended_with_its_reports(a) -> None:
    from imbexp import names
    from imbexp.sweeping._summary import progress_line
    from imbexp.sweeping._warmstart import stored_duplicate, tell_stored

    study = _pruned_study()
    study.enqueue_trial({"a": a})
    trial = study.ask()
    trial.suggest_categorical("a", [1, 2])
    original = stored_duplicate(study, trial)
    assert original is not None and original.params == {"a": a}
    tell_stored(study, trial, original)
    copy = study.trials[-1]
    assert copy.state == original.state and copy.intermediate_values == original.intermediate_values
    assert copy.user_attrs[names.TRIAL_DUPLICATE_ATTR] == original.number
    line = progress_line(study, copy, 10, 1.0, ("pr_auc",))
    if original.state == TrialState.PRUNED:
        assert copy.user_attrs[names.TRIAL_PRUNED_ATTR] == original.user_attrs[names.TRIAL_PRUNED_ATTR]
        assert f"PRUNED (same configuration as trial {original.number}, pruned there: not run again)" in line
        assert "2 pruned" in line
    else:
        assert copy.value == original.value and "its stored value, not run again" in line


def test_a_nan_fold_does_not_stop_the_running_mean_reports() -> None:
    from imbexp.sweeping import _pruning

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    with _pruning.reporting(trial, "median", "pr_auc"):
        for value in (float("nan"), 0.4, 0.6):
            _pruning.report_fold({"pr_auc": value}, [])
    study.tell(trial, 0.5)
    # the NaN fold says nothing; the later running means leave it out
    assert study.trials[0].intermediate_values == {1: pytest.approx(0.4), 2: pytest.approx(0.5)}
