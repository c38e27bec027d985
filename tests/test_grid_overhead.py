"""What a grid (``python -m imbexp -m``) does once per command or per comparison, kept to what
its runs need: the baseline it adds is one of its jobs, and a score vector resampled once is not
resampled again at the end."""

from __future__ import annotations

import numpy as np
import pytest

from imbexp import intervals, names

#: about 60 test positives: enough for intervals and deltas, a few seconds a run
TINY = ["dataset=known_prob", "dataset.rows=6000", "dataset.minority_fraction=0.05",
        "model.estimator.n_estimators=10", "metrics.bootstrap=200"]


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMBEXP_THREADS", "1")


def test_the_baseline_a_grid_adds_logs_no_model_or_plots_like_its_jobs(run_cli, mlflow_client) -> None:
    done = run_cli("-m", *TINY, "strategy=downsample_upweight", "strategy.downsample_factor=2,10",
                   "tracking.experiment=lean-baseline")
    assert done.returncode == 0, done.stderr[-3000:]
    found = mlflow_client.get_experiment_by_name("lean-baseline")
    runs = mlflow_client.search_runs([found.experiment_id])
    (baseline,) = [run for run in runs if run.data.tags.get(names.BASELINE_TAG) == "true"]
    jobs = [run for run in runs if run.data.tags.get("strategy") == "downsample_upweight"]
    assert len(jobs) == 2 and baseline.info.status == "FINISHED"
    for run in (baseline, *jobs):  # MLflow keeps a model apart from the run's artifacts: its stage says it
        logged = {item.path for item in mlflow_client.list_artifacts(run.info.run_id)}
        assert logged == {"config.yaml", "predictions"}, (run.data.tags.get("strategy"), logged)
        assert "seconds_model" not in run.data.metrics and "seconds_plots" not in run.data.metrics
    for run in jobs:  # compared with it all the same
        assert run.data.tags[names.BASELINE_RUN_TAG] == baseline.info.run_id
        assert "test_pr_auc_delta" in run.data.metrics


def test_a_baseline_asked_to_log_its_model_still_does(run_cli, mlflow_client) -> None:
    done = run_cli("-m", *TINY, "strategy=downsample_upweight", "strategy.downsample_factor=2",
                   "tracking.log_model=true", "tracking.experiment=lean-baseline-model")
    assert done.returncode == 0, done.stderr[-3000:]
    found = mlflow_client.get_experiment_by_name("lean-baseline-model")
    (baseline,) = [run for run in mlflow_client.search_runs([found.experiment_id])
                   if run.data.tags.get(names.BASELINE_TAG) == "true"]
    assert "seconds_model" in baseline.data.metrics
    assert mlflow_client.search_logged_models([found.experiment_id],
                                              filter_string=f"source_run_id = '{baseline.info.run_id}'")


def _scores(seed: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(np.int64)
    return y, np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)


def test_draws_of_a_vector_resampled_before_are_the_same_and_read_only(monkeypatch) -> None:
    monkeypatch.setattr(intervals, "_DRAWS", type(intervals._DRAWS)())
    y, score = _scores(1)
    _, other = _scores(2)
    first = intervals.bootstrap_draws([intervals._Resampled(y, score, 0.4, 15)], y.size, 50, seed=3)[0]
    # the same vector as a copy of another dtype of labels, paired with a new one: the first
    # comes from the cache, the second is drawn on the same resamples
    again, paired = intervals.bootstrap_draws([intervals._Resampled(y.astype(np.int8), score.copy(), 0.4, 15),
                                               intervals._Resampled(y, other, 0.4, 15)], y.size, 50, seed=3)
    assert again["pr_auc"] is first["pr_auc"] and not again["pr_auc"].flags.writeable
    again["extra"] = np.zeros(1)  # a caller's own dict: the cache does not see it
    assert "extra" not in intervals.bootstrap_draws([intervals._Resampled(y, score, 0.4, 15)], y.size, 50, seed=3)[0]
    monkeypatch.setattr(intervals, "_DRAWS", type(intervals._DRAWS)())
    both = [intervals._Resampled(y, score, 0.4, 15), intervals._Resampled(y, other, 0.4, 15)]
    fresh = intervals.bootstrap_draws(both, y.size, 50, seed=3)
    for name in intervals.BOOTSTRAP_METRICS:
        np.testing.assert_array_equal(first[name], fresh[0][name])
        np.testing.assert_array_equal(paired[name], fresh[1][name])
    # another threshold, seed, number of resamples, ECE bins or labels is drawn anew
    flipped = y.copy()
    flipped[:5] = 1 - flipped[:5]
    for key, (labels, threshold, resamples, seed, bins) in {
            "threshold": (y, 0.5, 50, 3, 15), "seed": (y, 0.4, 50, 4, 15), "resamples": (y, 0.4, 60, 3, 15),
            "bins": (y, 0.4, 50, 3, 10), "labels": (flipped, 0.4, 50, 3, 15)}.items():
        vector = intervals._Resampled(labels, score, threshold, bins)
        new = intervals.bootstrap_draws([vector], y.size, resamples, seed)[0]
        assert new["pr_auc"] is not first["pr_auc"], key
    assert len(intervals._DRAWS) == 7


def test_the_cache_keeps_a_bounded_number_of_vectors(monkeypatch) -> None:
    monkeypatch.setattr(intervals, "_DRAWS", type(intervals._DRAWS)())
    monkeypatch.setattr(intervals, "_DRAWS_KEPT", 3)
    y, score = _scores(5, n=500)
    for threshold in (0.1, 0.2, 0.3, 0.4, 0.5):
        intervals.bootstrap_draws([intervals._Resampled(y, score, threshold, 15)], y.size, 10, seed=0)
    assert [key[0][2] for key in intervals._DRAWS] == [0.3, 0.4, 0.5]
    # and a bounded size, however many resamples are asked for: 2 entries of 5 x 100 draws fit here
    monkeypatch.setattr(intervals, "_DRAWS_KEPT", 1000)
    monkeypatch.setattr(intervals, "_DRAWS_BYTES", 2 * len(intervals.BOOTSTRAP_METRICS) * 100 * 8)
    for threshold in (0.6, 0.7, 0.8):
        intervals.bootstrap_draws([intervals._Resampled(y, score, threshold, 15)], y.size, 100, seed=0)
    assert [key[0][2] for key in intervals._DRAWS] == [0.7, 0.8]


def test_paired_deltas_after_the_runs_own_intervals_are_unchanged(monkeypatch) -> None:
    y, score = _scores(7)
    _, baseline = _scores(8)
    monkeypatch.setattr(intervals, "_DRAWS", type(intervals._DRAWS)())
    cold = intervals.paired(y, score, baseline, 0.4, 0.35, n_resamples=100, seed=0)
    intervals.intervals(y, score, 0.4, n_resamples=100, seed=0)  # as each run does in its job
    intervals.intervals(y, baseline, 0.35, n_resamples=100, seed=0)
    monkeypatch.setattr(intervals, "_DRAWS", type(intervals._DRAWS)())
    intervals.intervals(y, score, 0.4, n_resamples=100, seed=0)
    intervals.intervals(y, baseline, 0.35, n_resamples=100, seed=0)
    assert intervals.paired(y, score, baseline, 0.4, 0.35, n_resamples=100, seed=0) == cold


@pytest.mark.smoke  # Hydra's loader is wrapped for a help: CI checks it on the newest Hydra too
def test_help_lists_every_config_group_and_option(run_cli) -> None:
    from imbexp._paths import config_dir

    done = run_cli("--help")
    assert done.returncode == 0, done.stderr[-3000:]
    listed = dict(line.split(": ", 1) for line in done.stdout.split("== Configuration groups ==")[1]
                  .split("== Config ==")[0].splitlines() if ": " in line)
    folders = {folder.name: sorted(path.stem for path in folder.glob("*.yaml"))
               for folder in config_dir().iterdir() if folder.is_dir() and any(folder.glob("*.yaml"))}
    assert {group: options.split(", ") for group, options in listed.items()} == folders
    hydra_help = run_cli("--hydra-help")  # Hydra's own groups, from the same one copy of the repository
    assert hydra_help.returncode == 0 and "hydra/launcher: basic" in hydra_help.stdout
    assert "imbexp_optuna" in hydra_help.stdout
