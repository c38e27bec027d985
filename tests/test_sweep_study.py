"""A study is one experiment: constraints, budget, the baseline first, no configuration run twice,
a fingerprint that refuses another experiment, and output a person can read. Real sweeps
(``python -m imbexp``) on tiny data."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import optuna
import pandas as pd
import pytest

from imbexp.errors import ConfigError
from imbexp.sweeping import SweepSettings

optuna.logging.set_verbosity(optuna.logging.WARNING)

TINY = ["dataset.rows=2000", "model.estimator.n_estimators=10", "tracking.log_model=false"]
#: the downsample factor searched over two points, no upweighting: 1 is the baseline, 4 moves
#: the prior (and so ECE) and trains on fewer rows
TWO_POINTS = ["sweep=downsample_upweight", "strategy.downsample_factor=choice(1.0, 4.0)",
              "strategy.upweight_factor=choice(1.0)"]


def _study(home: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{home.as_posix()}/runs/optuna.db")


def _ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _children(client, parent_id: str):
    experiment = client.get_run(parent_id).info.experiment_id
    return client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'")


def _trial_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("[sweep] trial ")]


def test_a_constraint_excludes_the_unconstrained_best(run_cli, imbexp_home, mlflow_client, compose) -> None:
    from imbexp.run import experiment

    # the two points as single runs (the trials will reproduce them: same seed, same data), to
    # know which is best and a bound that excludes it: f = 4 has the higher ECE (its prior moved),
    # f = 1 the more training rows
    single = {f: experiment(compose("strategy=downsample_upweight", f"strategy.downsample_factor={f}",
                                    "strategy.upweight_factor=1.0", "tracking.experiment=constraints-single", *TINY))
              for f in (1.0, 4.0)}
    best_f, other_f = sorted(single, key=lambda f: -single[f].metrics["valid_pr_auc"])
    best, other = single[best_f].metrics, single[other_f].metrics
    metric = next(m for m in ("valid_ece", "train_rows") if best[m] > other[m])
    bound = (best[metric] + other[metric]) / 2

    args = [*TWO_POINTS, "hydra/sweeper/sampler=grid", "hydra.sweeper.n_trials=2", "tracking.experiment=constraints",
            *TINY]
    result = run_cli(*args, "hydra.sweeper.study_name=constrained",
                     f"hydra.sweeper.constraints=['{metric} <= {bound!r}']")
    _ok(result)
    study = _study(imbexp_home, "constrained")
    by_factor = {t.params["strategy.downsample_factor"]: t for t in study.trials}
    excluded, kept = by_factor[best_f], by_factor[other_f]
    assert excluded.value == pytest.approx(best["valid_pr_auc"]) and kept.value == pytest.approx(other["valid_pr_auc"])
    assert excluded.value > kept.value
    assert excluded.constraints[f"{metric} <= {bound:g}"] > 0 >= kept.constraints[f"{metric} <= {bound:g}"]
    assert study.best_trial.number == kept.number
    # MLflow: the infeasible run is tagged so; the parent's best is the feasible trial
    parent = mlflow_client.get_run(study.user_attrs["mlflow_parent_run_id"])
    assert parent.data.tags["best_trial_number"] == str(kept.number)
    assert parent.data.metrics["best_valid_pr_auc"] == pytest.approx(kept.value)
    assert parent.data.metrics["trials_infeasible"] == 1
    excluded_run = mlflow_client.get_run(excluded.user_attrs["mlflow_run_id"])
    assert excluded_run.data.tags["imbexp.feasible"] == "false"
    assert metric in excluded_run.data.tags["imbexp.violated_constraints"]
    assert mlflow_client.get_run(kept.user_attrs["mlflow_run_id"]).data.tags["imbexp.feasible"] == "true"
    # the printed best and the final table, the trials table and the report
    assert re.search(rf"\[sweep\] trial {excluded.number}: .*\(infeasible: {metric} <= ", result.stdout)
    assert re.search(rf"best {kept.value:.4f} \(trial {kept.number}\)", _trial_lines(result.stdout)[-1])
    table = result.stdout[result.stdout.index("(1 feasible)"):].splitlines()
    assert "feasible" in table[1].split() and table[2].split()[:3] == [str(kept.number), f"{kept.value:.4f}", "yes"]
    trials = pd.read_csv(mlflow_client.download_artifacts(parent.info.run_id, "trials.csv"))
    assert dict(zip(trials["trial"], trials["feasible"], strict=True)) == {excluded.number: False, kept.number: True}
    report = Path(re.search(r"\[sweep\] report: (\S+)", result.stdout).group(1)).read_text()
    assert report.count("FINISHED · infeasible") == 1


def test_a_constraint_on_a_metric_that_is_nan_breaks_it_and_the_sweep_goes_on(run_cli, imbexp_home,
                                                                               mlflow_client) -> None:
    # trees that cannot split (a leaf needs more rows than there are) score every row the same:
    # the calibration slope is NaN, which Optuna refuses as a constraint value; the trial is
    # infeasible, told, and its run closed
    result = run_cli(*TWO_POINTS, "hydra/sweeper/sampler=grid", "hydra.sweeper.n_trials=2",
                     "hydra.sweeper.study_name=nan-constraint", "tracking.experiment=nan-constraint",
                     "hydra.sweeper.constraints=['valid_calibration_slope >= 0.5']",
                     "model.estimator.min_child_samples=100000", *TINY)
    _ok(result)
    assert "Traceback" not in result.stdout + result.stderr
    study = _study(imbexp_home, "nan-constraint")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    for trial in study.trials:
        assert trial.constraints == {"valid_calibration_slope >= 0.5": float("inf")}
        run = mlflow_client.get_run(trial.user_attrs["mlflow_run_id"])
        assert run.info.status == "FINISHED" and run.data.tags["imbexp.feasible"] == "false"
        assert "valid_calibration_slope >= 0.5 (no finite value" in run.data.tags["imbexp.violated_constraints"]
    assert "no feasible trial yet" in _trial_lines(result.stdout)[-1]


@pytest.mark.smoke
def test_the_baseline_runs_first_and_a_configuration_drawn_again_is_not_run_again(run_cli, imbexp_home,
                                                                                 mlflow_client) -> None:
    name = "deduplicated"
    result = run_cli(*TWO_POINTS, "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=0",
                     "hydra.sweeper.n_trials=5", f"hydra.sweeper.study_name={name}", "tracking.experiment=dedup", *TINY)
    _ok(result)
    study = _study(imbexp_home, name)
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 5
    # the baseline (factor 1) was queued before the sampler drew anything
    assert trials[0].params == {"strategy.downsample_factor": 1.0, "strategy.upweight_factor": 1.0}
    assert trials[0].system_attrs.get("fixed_params") is not None
    # two configurations, five trials: at least three were answered from the study, not run
    repeats = [t for t in trials if "imbexp.duplicate_of" in t.user_attrs]
    assert len(repeats) >= 3
    for trial in repeats:
        original = study.trials[trial.user_attrs["imbexp.duplicate_of"]]
        assert original.params == trial.params and original.values == trial.values
        assert "imbexp.duplicate_of" not in original.user_attrs and "mlflow_run_id" not in trial.user_attrs
    children = _children(mlflow_client, study.user_attrs["mlflow_parent_run_id"])
    assert len(children) == len(trials) - len(repeats)
    assert result.stdout.count("its stored value, not run again") == len(repeats)
    # one line per trial, in trial order as each ends, and the rest of the output a few lines
    lines = _trial_lines(result.stdout)
    assert [int(line.split()[2].rstrip(":")) for line in lines] == [0, 1, 2, 3, 4]
    assert "objective: valid_pr_auc" not in result.stdout and "Launching 1 jobs" not in result.stdout + result.stderr
    assert len(result.stdout.splitlines()) <= len(lines) + 15, result.stdout
    # optuna-dashboard names the objective (read from the storage, as the dashboard does)
    assert study.metric_names == ["valid_pr_auc"]

    # a resume (or a second machine) queues no second baseline: the study remembers the first
    from imbexp.sweeping._space import parse_search_space
    from imbexp.sweeping._study import open_storage
    from imbexp.sweeping._warmstart import enqueue_baseline

    space = parse_search_space({"strategy.downsample_factor": "choice(1.0, 4.0)", "strategy.upweight_factor": 1.0})
    assert not enqueue_baseline(study, open_storage(f"sqlite:///{imbexp_home.as_posix()}/runs/optuna.db"), space)
    assert len(_study(imbexp_home, name).trials) == 5


def test_a_study_made_before_baselines_gets_none_queued(tmp_path) -> None:
    from imbexp import names
    from imbexp.sweeping._space import parse_search_space
    from imbexp.sweeping._study import open_storage
    from imbexp.sweeping._warmstart import enqueue_baseline

    space = parse_search_space({"strategy.downsample_factor": "choice(1.0, 4.0)", "strategy.upweight_factor": 1.0})
    storage = open_storage(f"sqlite:///{tmp_path.as_posix()}/optuna.db")
    old = optuna.create_study(study_name="old", storage=storage, direction="maximize")
    old.add_trial(optuna.trial.create_trial(params={"strategy.downsample_factor": 4.0}, value=0.5, distributions={
        "strategy.downsample_factor": optuna.distributions.CategoricalDistribution([1.0, 4.0])}))
    assert not enqueue_baseline(old, storage, space)
    old = optuna.load_study(study_name="old", storage=storage)
    assert [t.state for t in old.trials] == [optuna.trial.TrialState.COMPLETE]  # nothing queued to run
    assert names.STUDY_BASELINE_ATTR in old.user_attrs and not enqueue_baseline(old, storage, space)
    new = optuna.create_study(study_name="new", storage=storage, direction="maximize")
    assert enqueue_baseline(new, storage, space)
    assert [t.state for t in new.trials] == [optuna.trial.TrialState.WAITING]


@pytest.mark.parametrize("directions", [["maximize"], ["maximize", "minimize"]])
def test_the_best_trials_are_originals_not_their_copies(tmp_path, directions) -> None:
    from imbexp import names
    from imbexp.sweeping._summary import best_trials, final_table

    study = optuna.create_study(storage=f"sqlite:///{tmp_path.as_posix()}/optuna.db", directions=directions)
    choice = {"f": optuna.distributions.CategoricalDistribution([1.0, 4.0])}
    values = [[0.9, 0.2], [0.5, 0.1]]  # neither dominates the other
    for number, (f, value, copy_of) in enumerate([(1.0, values[0], None), (4.0, values[1], None),
                                                  (1.0, values[0], 0), (4.0, values[1], 1)]):
        attrs = {names.TRIAL_RUN_ATTR: f"run-{number}"} if copy_of is None else {names.TRIAL_DUPLICATE_ATTR: copy_of}
        study.add_trial(optuna.trial.create_trial(params={"f": f}, distributions=choice, user_attrs=attrs,
                                                  values=value[: len(directions)]))
    best = best_trials(study)
    # one objective: trial 0 (or its copy 2, a tie) is best; two: 0 and 1 are the front, 2 and 3 their copies
    assert [t.number for t in best] == ([0] if len(directions) == 1 else [0, 1])
    assert all(t.user_attrs[names.TRIAL_RUN_ATTR] == f"run-{t.number}" for t in best)
    rows = final_table(study, tuple(f"valid_{i}" for i in range(len(directions)))).splitlines()[2:]
    assert [row.split()[0] for row in rows] == ["0", "1"]  # the final table lists each configuration once


def test_another_experiment_is_refused_and_a_finished_study_is_only_reported(run_cli, imbexp_home,
                                                                             mlflow_client) -> None:
    name = "one-experiment"
    args = ["sweep=downsample_upweight", "hydra.sweeper.n_trials=2", f"hydra.sweeper.study_name={name}",
            "tracking.experiment=fingerprint", *TINY]
    verbose = run_cli(*args, "hydra.sweeper.verbose=true")
    _ok(verbose)
    # verbose: each trial's own summary too, and each trial's line before the next trial's output
    lines = verbose.stdout.splitlines()
    summaries = [i for i, line in enumerate(lines) if line.strip().startswith("objective: valid_pr_auc")]
    progress = [i for i, line in enumerate(lines) if line.startswith("[sweep] trial ")]
    assert len(summaries) == 2 and summaries[0] < progress[0] < summaries[1] < progress[1]
    study = _study(imbexp_home, name)
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    ended = mlflow_client.get_run(parent_id).info.end_time
    report = Path(re.search(r"\[sweep\] report: (\S+)", verbose.stdout).group(1))
    written = report.stat().st_mtime_ns

    refused = run_cli(*args[:-3], "dataset.rows=2500", *args[-2:])
    assert refused.returncode == 2
    message = refused.stderr.strip().splitlines()[-1]
    assert message.startswith("imbexp: error: study 'one-experiment' is another experiment") and \
        "dataset.rows=2000 (now 2500)" in message and f"hydra.sweeper.study_name={name}-" in message
    study = _study(imbexp_home, name)
    assert len(study.trials) == 2 and {t.state for t in study.trials} == {optuna.trial.TrialState.COMPLETE}
    runs = mlflow_client.search_runs([mlflow_client.get_run(parent_id).info.experiment_id])
    assert len(runs) == 3 and "RUNNING" not in {r.info.status for r in runs}

    again = run_cli(*args)
    _ok(again)
    assert f"study {name} is finished: 2 of 2 trials are complete; nothing to run" in again.stdout
    assert "hydra.sweeper.n_trials=" in again.stdout and "[sweep] report:" not in again.stdout
    assert mlflow_client.get_run(parent_id).info.end_time == ended and report.stat().st_mtime_ns == written
    assert len(_study(imbexp_home, name).trials) == 2


def test_a_resume_with_more_trials_and_other_model_threads_is_the_same_experiment(run_cli, imbexp_home) -> None:
    name = "resumed"
    args = ["sweep=downsample_upweight", f"hydra.sweeper.study_name={name}", "tracking.experiment=resume", *TINY]
    _ok(run_cli(*args, "hydra.sweeper.n_trials=1"))
    resumed = run_cli(*args, "hydra.sweeper.n_trials=2", "model.estimator.n_jobs=1")
    _ok(resumed)
    assert "another experiment" not in resumed.stderr
    trials = _study(imbexp_home, name).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2


def test_a_replaced_data_file_is_another_experiment(compose, tmp_path) -> None:
    from imbexp.sweeping._fingerprint import check, fingerprint
    from imbexp.sweeping._space import parse_search_space
    from imbexp.sweeping._study import open_storage

    data = tmp_path / "data.csv"
    data.write_text("x,y\n" + "".join(f"{i},{int(i % 10 == 0)}\n" for i in range(100)))
    config = compose("dataset=file", f"dataset.path={data.as_posix()}", "dataset.target=y")
    space = parse_search_space({"strategy.downsample_factor": "choice(1.0, 4.0)"})
    storage = open_storage(f"sqlite:///{tmp_path.as_posix()}/optuna.db")
    study = optuna.create_study(study_name="file", storage=storage)
    check(storage, study, fingerprint(config, space))  # recorded
    check(storage, optuna.load_study(study_name="file", storage=storage), fingerprint(config, space))  # the same
    data.write_text("x,y\n" + "".join(f"{i},{int(i % 5 == 0)}\n" for i in range(120)))
    with pytest.raises(ConfigError) as refused:
        check(storage, optuna.load_study(study_name="file", storage=storage), fingerprint(config, space))
    assert "is another experiment: it was run with dataset.path.bytes=" in str(refused.value)


def test_a_study_recorded_before_the_multiclass_keys_resumes_at_their_defaults(compose, tmp_path) -> None:
    """The config grew keys that change nothing at their defaults (dataset.classes=2,
    threshold.multiclass=argmax...): a study recorded without them resumes; set otherwise, it is
    another experiment."""
    import json

    from imbexp import names
    from imbexp.sweeping._fingerprint import check, fingerprint
    from imbexp.sweeping._space import parse_search_space
    from imbexp.sweeping._study import open_storage

    space = parse_search_space({"strategy.downsample_factor": "choice(1.0, 4.0)"})
    storage = open_storage(f"sqlite:///{tmp_path.as_posix()}/optuna.db")
    study = optuna.create_study(study_name="old", storage=storage)
    now = fingerprint(compose(), space)
    multiclass_keys = {key for key in names.ADDED_KEYS if key != "dataset.eval_sample"}  # a file's key
    assert multiclass_keys <= set(now)
    older = {key: value for key, value in now.items() if key not in names.ADDED_KEYS}
    study.set_user_attr(names.STUDY_FINGERPRINT_ATTR, json.dumps(older, sort_keys=True))
    check(storage, optuna.load_study(study_name="old", storage=storage), now)  # resumes
    with pytest.raises(ConfigError, match=r"it was run with threshold.multiclass=unset \(now ovr_f1\)"):
        check(storage, optuna.load_study(study_name="old", storage=storage),
              fingerprint(compose("threshold.multiclass=ovr_f1"), space))


def test_a_file_study_recorded_before_batch_scoring_resumes_whatever_its_batches(compose, tmp_path) -> None:
    """How a file is read (dataset.batch_rows, whose default fell from 1,000,000 to 250,000, and
    dataset.read_in_batches) changes no trial's value, and dataset.eval_sample=null is what a
    study recorded before that key did; a sample is another experiment."""
    import json

    from imbexp import names
    from imbexp.sweeping._fingerprint import check, fingerprint
    from imbexp.sweeping._space import parse_search_space
    from imbexp.sweeping._study import open_storage

    data = ["dataset=file", f"dataset.path={tmp_path.as_posix()}/events.parquet", "dataset.target=label"]
    space = parse_search_space({"strategy.downsample_factor": "choice(1.0, 4.0)"})
    storage = open_storage(f"sqlite:///{tmp_path.as_posix()}/optuna.db")
    study = optuna.create_study(study_name="file", storage=storage)
    now = fingerprint(compose(*data), space)
    assert "dataset.eval_sample" in now and "dataset.batch_rows" not in now
    older = {key: value for key, value in now.items() if key != "dataset.eval_sample"}
    older["dataset.batch_rows"] = "1000000"
    study.set_user_attr(names.STUDY_FINGERPRINT_ATTR, json.dumps(older, sort_keys=True))
    check(storage, optuna.load_study(study_name="file", storage=storage),
          fingerprint(compose(*data, "dataset.read_in_batches=true"), space))  # resumes
    with pytest.raises(ConfigError, match=r"it was run with dataset.eval_sample=unset \(now 0.5\)"):
        check(storage, optuna.load_study(study_name="file", storage=storage),
              fingerprint(compose(*data, "dataset.eval_sample=0.5"), space))


def test_target_and_timeout_end_the_sweep_cleanly_with_the_reason(run_cli, imbexp_home, mlflow_client) -> None:
    args = ["sweep=downsample_upweight", "hydra.sweeper.n_trials=20", "tracking.experiment=budget", *TINY]
    reached = run_cli(*args, "hydra.sweeper.study_name=target", "hydra.sweeper.target=0.0")
    _ok(reached)
    study = _study(imbexp_home, "target")
    assert len(study.trials) == 1  # any PR-AUC reaches 0
    assert re.search(r"^\[sweep\] hydra.sweeper.target=0 reached \(best \d\.\d{4}\): no more trials started$",
                     reached.stdout, re.MULTILINE)
    assert mlflow_client.get_run(study.user_attrs["mlflow_parent_run_id"]).info.status == "FINISHED"
    assert "it reached hydra.sweeper.target=0" in run_cli(*args, "hydra.sweeper.study_name=target",
                                                         "hydra.sweeper.target=0.0").stdout

    timed = run_cli(*args, "hydra.sweeper.study_name=timeout", "hydra.sweeper.timeout=1")
    _ok(timed)
    study = _study(imbexp_home, "timeout")
    assert 1 <= len(study.trials) < 20 and "[sweep] hydra.sweeper.timeout=1 s reached after" in timed.stdout
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    assert mlflow_client.get_run(study.user_attrs["mlflow_parent_run_id"]).info.status == "FINISHED"


@pytest.mark.parametrize(("values", "words"), [
    ({"constraints": ["valid_ece < 0.01"]}, "use METRIC <= NUMBER or METRIC >= NUMBER"),
    ({"constraints": ["valid_eceh <= 0.01"]}, "names the unknown metric 'valid_eceh'; use one of valid_precision"),
    ({"constraints": ["test_ece <= 0.01"]}, "names a test metric; constrain the valid one (valid_ece)"),
    ({"constraints": "valid_ece <= 0.01"}, "use a list such as"),
    ({"timeout": 0}, "hydra.sweeper.timeout=0 is not allowed; use a number of seconds > 0"),
    ({"target": "high"}, "hydra.sweeper.target='high' is not allowed; use a number"),
    ({"deduplicate": "yes"}, "hydra.sweeper.deduplicate='yes' is not allowed; use true or false"),
    ({"verbose": 1}, "hydra.sweeper.verbose=1 is not allowed; use true or false"),
])
def test_a_bad_setting_is_one_sentence(values, words) -> None:
    with pytest.raises(ConfigError) as raised:
        SweepSettings(**values).validate()
    assert words in str(raised.value) and "\n" not in str(raised.value)


def test_a_bare_metric_means_the_valid_one_and_either_bound_reads() -> None:
    from imbexp.sweeping._constraints import parse_constraints, violations

    ece, recall = parse_constraints(["ece <= 0.01", "valid_recall_tuned>=0.8"])
    assert (ece.metric, recall.metric) == ("valid_ece", "valid_recall_tuned")
    found = violations([ece, recall], {"valid_ece": 0.03, "valid_recall_tuned": 0.9})
    assert found["valid_ece <= 0.01"] == pytest.approx(0.02) and found["valid_recall_tuned >= 0.8"] < 0


def test_an_unknown_constraint_metric_on_the_command_line_exits_2(run_cli) -> None:
    result = run_cli("sweep=downsample_upweight", "hydra.sweeper.constraints=['valid_eceh <= 0.01']", *TINY,
                     timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith(
        "imbexp: error: hydra.sweeper.constraints entry 'valid_eceh <= 0.01' names the unknown metric")


def test_a_constraint_on_a_metric_the_runs_cannot_log_exits_2(run_cli, imbexp_home) -> None:
    # valid_cost needs a cost column, which the synthetic dataset has not: refused before any trial
    result = run_cli("sweep=downsample_upweight", "hydra.sweeper.constraints=['valid_cost <= 10']",
                     "hydra.sweeper.study_name=cost-constraint", *TINY, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().splitlines()[-1] == (
        "imbexp: error: hydra.sweeper.constraints entry 'valid_cost <= 10' needs dataset.cost, the column of what "
        "missing each positive costs, and the dataset has none; set dataset.cost=COLUMN (dataset=file) or "
        "constrain another metric.")
    assert not (imbexp_home / "runs" / "optuna.db").exists() or not _study_exists(imbexp_home, "cost-constraint")


def _study_exists(home: Path, name: str) -> bool:
    try:
        return bool(_study(home, name).trials)
    except KeyError:
        return False


@pytest.mark.skipif(os.environ.get("IMBEXP_SKIP_GP") == "1", reason="asked to skip")
def test_gp_needs_pytorch_or_says_so(run_cli, imbexp_home) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        result = run_cli("sweep=downsample_upweight", "hydra/sweeper/sampler=gp", *TINY, timeout=120)
        assert result.returncode == 2 and "needs PyTorch; pip install torch" in result.stderr
        return
    result = run_cli("sweep=downsample_upweight", "hydra/sweeper/sampler=gp", "hydra.sweeper.n_trials=3",
                     "hydra.sweeper.sampler.n_startup_trials=2", "hydra.sweeper.study_name=gp",
                     "hydra.sweeper.constraints=['valid_ece <= 0.05']", "tracking.experiment=gp", *TINY)
    _ok(result)
    study = _study(imbexp_home, "gp")
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 3
    assert all(t.constraints for t in study.trials)


def test_a_killed_process_its_parent_has_not_reaped_holds_no_trial() -> None:
    import signal
    import sys
    import time

    from imbexp.sweeping._study import pid_alive

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        for _ in range(100):  # a zombie until this process waits for it
            if not pid_alive(child.pid):
                break
            time.sleep(0.05)
        assert not pid_alive(child.pid)
        assert child.poll() == -signal.SIGKILL  # reaped only now: it was a zombie above
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
