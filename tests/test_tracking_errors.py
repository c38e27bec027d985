"""A tracking store that cannot be used, and run ids that do not fit, are one sentence (exit 2),
said quickly and before anything is written; a new SQLite store opened by several processes at
once works for all of them. Real MLflow stores, real processes, real sockets."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from mlflow.entities import ViewType

from imbexp import tracking
from imbexp.errors import ConfigError

TINY = ["dataset.rows=2000", "model.estimator.n_estimators=10", "tracking.log_model=false"]


def _sentence(result: subprocess.CompletedProcess) -> str:
    """The one line a user's mistake ends in; no traceback before it."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("imbexp: error: "), result.stderr[-3000:]
    return line


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _timed(run_cli, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    result = run_cli(*TINY, *args, timeout=200)
    return result, time.monotonic() - start


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- the store -------------------------------------------------------------------------------------


def test_unreachable_server_is_one_sentence_within_seconds(run_cli) -> None:
    uri = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    result, elapsed = _timed(run_cli, f"tracking.uri={uri}")
    line = _sentence(result)
    assert f"tracking.uri='{uri}'" in line and "no MLflow server answers" in line and "refused" in line
    # MLflow's own retries took about 250 s; the rest of the time is starting Python and the run
    assert elapsed < 90, elapsed


def test_report_on_an_unreachable_server_is_one_sentence(imbexp_home: Path) -> None:
    uri = f"http://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "imbexp.report", "--tracking-uri", uri, "--experiment", "x"],
                            capture_output=True, text=True, timeout=200)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.stderr.strip() == (f"imbexp report: error: --tracking-uri='{uri}': no MLflow server answers "
                                     f"there within {tracking.SERVER_PROBE_SECONDS} s ([Errno 111] Connection "
                                     "refused); start it (mlflow server --host HOST --port PORT) or use another "
                                     "--tracking-uri, e.g. sqlite:///path/to/mlflow.db.")
    assert time.monotonic() - start < 90


def test_server_that_never_answers_is_refused_after_the_probe_timeout(imbexp_home) -> None:
    with socket.socket() as silent:  # the connection is accepted by the kernel, nothing replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(ConfigError, match="no MLflow server answers there within"):
            tracking.connect(uri, "silent")
        elapsed = time.monotonic() - start
    assert tracking.SERVER_PROBE_SECONDS - 0.5 < elapsed < tracking.SERVER_PROBE_SECONDS + 5, elapsed


def test_unreachable_database_server_is_one_sentence(imbexp_home) -> None:
    """MLflow retries creating its engine on a database that does not answer for about 100 s."""
    port = _free_port()
    uri = f"postgresql://imbexp:hunter2@127.0.0.1:{port}/mlflow"
    start = time.monotonic()
    with pytest.raises(ConfigError, match=f"no database server answers at 127.0.0.1:{port}") as raised:
        tracking.connect(uri, "x")
    assert time.monotonic() - start < tracking.SERVER_PROBE_SECONDS + 5
    assert "hunter2" not in str(raised.value) and "imbexp:***@" in str(raised.value)


def test_unsupported_scheme_is_one_sentence(run_cli) -> None:
    line = _sentence(run_cli(*TINY, "tracking.uri=unsupported://x"))
    assert "tracking.uri='unsupported://x' has a scheme MLflow keeps no runs in" in line
    assert "sqlite:///" in line and "postgresql" in line


def test_unwritable_sqlite_path_is_one_sentence(run_cli) -> None:
    result, elapsed = _timed(run_cli, "tracking.uri=sqlite:////proc/imbexp/x.db")
    line = _sentence(result)
    assert "tracking.uri='sqlite:////proc/imbexp/x.db' cannot be written" in line
    assert "a folder you can write to" in line
    assert elapsed < 90, elapsed  # MLflow's engine retries took about 100 s


@pytest.mark.parametrize("case", ["folder", "not a database", "under a file"])
def test_sqlite_path_that_is_no_database_is_refused(tmp_path: Path, case: str) -> None:
    target = {"folder": tmp_path, "not a database": tmp_path / "notes.db",
              "under a file": tmp_path / "notes.db" / "mlflow.db"}[case]
    if case != "folder":
        (tmp_path / "notes.db").write_text("these are notes, not an SQLite database\n" * 50)
    uri = f"sqlite:///{target.as_posix()}"
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"tracking\.uri=.* cannot be (opened|written)"):
        tracking.connect(uri, "x")
    assert time.monotonic() - start < 10  # MLflow's engine retries took about 100 s
    if case != "folder":
        assert (tmp_path / "notes.db").read_text().startswith("these are notes")  # left as it was


@pytest.mark.slow  # the restore command is a second MLflow process
def test_deleted_experiment_says_how_to_restore_it(run_cli, mlflow_client, imbexp_home: Path) -> None:
    name = _unique("deleted")
    experiment_id = mlflow_client.create_experiment(name)
    mlflow_client.delete_experiment(experiment_id)
    line = _sentence(run_cli(*TINY, f"tracking.experiment={name}"))
    assert f"tracking.experiment='{name}' names a deleted MLflow experiment (id {experiment_id})" in line
    assert "or use another tracking.experiment" in line
    # the command it gives restores the experiment
    command = line.split("restore it (", 1)[1].split(") or use", 1)[0]
    variable, rest = command.split(" ", 1)
    key, value = variable.split("=", 1)
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    done = subprocess.run([mlflow, *shlex.split(rest)[1:]], env={**os.environ, key: value},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert mlflow_client.get_experiment(experiment_id).lifecycle_stage == "active"


@pytest.mark.slow
def test_new_sqlite_store_started_by_three_processes_at_once(tmp_path: Path) -> None:
    """MLflow creates a new database's tables without a lock; three runs started together on a
    fresh store each finish (before the lock, two of three crashed in ``CREATE TABLE``)."""
    env = {**os.environ, "IMBEXP_HOME": str(tmp_path), "IMBEXP_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    processes = [subprocess.Popen([sys.executable, "-m", "imbexp", *TINY, f"seed={seed}"], cwd=tmp_path, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for seed in range(3)]
    errors = [process.communicate(timeout=600)[1] for process in processes]
    for process, stderr in zip(processes, errors, strict=True):
        assert process.returncode == 0, stderr[-3000:]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{(tmp_path / 'runs' / 'mlflow.db').as_posix()}")
    [experiment] = client.search_experiments(filter_string="name = 'synthetic'")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(run.data.params["seed"] for run in runs) == ["0", "1", "2"]
    assert {run.info.status for run in runs} == {"FINISHED"}


# -- tracking.run_id and tracking.parent_run_id ---------------------------------------------------


def _snapshot(client, run_id: str) -> tuple:
    run = client.get_run(run_id)
    return (run.info.status, run.info.run_name, run.info.end_time, run.info.lifecycle_stage,
            dict(run.data.tags), dict(run.data.params), dict(run.data.metrics))


def test_run_id_of_another_experiments_finished_run_is_refused_untouched(run_cli, mlflow_client) -> None:
    other = mlflow_client.create_experiment(_unique("other"))
    finished = mlflow_client.create_run(other, run_name="someone else's run", tags={"owner": "them"})
    run_id = finished.info.run_id
    mlflow_client.log_param(run_id, "seed", "7")
    mlflow_client.set_terminated(run_id, "FINISHED")
    before = _snapshot(mlflow_client, run_id)
    line = _sentence(run_cli(*TINY, f"tracking.experiment={_unique('mine')}", f"tracking.run_id={run_id}"))
    assert f"tracking.run_id='{run_id}' is a run of experiment" in line
    assert _snapshot(mlflow_client, run_id) == before


@pytest.mark.parametrize("missing", [uuid.uuid4().hex, "../x"], ids=["unknown id", "malformed id"])
def test_unknown_parent_run_id_is_refused_and_no_run_is_made(run_cli, mlflow_client, missing: str) -> None:
    name = _unique("orphans")
    line = _sentence(run_cli(*TINY, f"tracking.experiment={name}", f"tracking.parent_run_id={missing}"))
    assert f"tracking.parent_run_id='{missing}' is not a run in" in line
    experiment = mlflow_client.get_experiment_by_name(name)
    assert experiment is None or not mlflow_client.search_runs([experiment.experiment_id])


def _start(cfg) -> str:
    with tracking.start_run(cfg, "a run", {}) as run:
        return run.info.run_id


@pytest.mark.parametrize("state", ["finished", "params logged", "deleted", "sweep parent", "parent elsewhere",
                                   "parent deleted"])
def test_run_ids_that_do_not_fit_are_refused_untouched(compose, mlflow_client, state: str) -> None:
    name = _unique("fit")
    cfg = compose(f"tracking.experiment={name}")
    experiment_id = tracking.connect(str(cfg.tracking.uri), name)
    where = mlflow_client.create_experiment(_unique("elsewhere")) if state == "parent elsewhere" else experiment_id
    tags = {"imbexp.sweep": "optuna"} if state == "sweep parent" else {}
    run_id = mlflow_client.create_run(where, run_name="kept", tags=tags).info.run_id
    if state == "finished":
        mlflow_client.set_terminated(run_id, "FINISHED")
    if state == "params logged":
        mlflow_client.log_param(run_id, "seed", "3")
    if state in ("deleted", "parent deleted"):
        mlflow_client.delete_run(run_id)
    key = "tracking.parent_run_id" if state.startswith("parent") else "tracking.run_id"
    before = _snapshot(mlflow_client, run_id)
    cfg = compose(f"tracking.experiment={name}", f"{key}={run_id}")
    with pytest.raises(ConfigError, match=rf"^{key}='{run_id}' is "):
        _start(cfg)
    assert _snapshot(mlflow_client, run_id) == before
    others = mlflow_client.search_runs([experiment_id], run_view_type=ViewType.ALL)
    assert [run.info.run_id for run in others if run.info.run_id != run_id] == []  # no run was made


def test_run_ids_that_fit_are_used(compose, mlflow_client) -> None:
    """A run created as the sweeper creates a trial's run is continued; a finished run of the
    experiment can be a parent."""
    name = _unique("fits")
    cfg = compose(f"tracking.experiment={name}")
    experiment_id = tracking.connect(str(cfg.tracking.uri), name)
    parent = mlflow_client.create_run(experiment_id, run_name="parent").info.run_id
    mlflow_client.set_terminated(parent, "FINISHED")
    trial = mlflow_client.create_run(experiment_id, run_name="trial 0",
                                     tags={"mlflow.parentRunId": parent, "imbexp.sweep": "optuna"}).info.run_id
    assert _start(compose(f"tracking.experiment={name}", f"tracking.run_id={trial}")) == trial
    assert mlflow_client.get_run(trial).info.status == "FINISHED"
    assert mlflow_client.get_run(trial).info.run_name == "a run"
    nested = _start(compose(f"tracking.experiment={name}", f"tracking.parent_run_id={parent}"))
    assert mlflow_client.get_run(nested).data.tags["mlflow.parentRunId"] == parent
