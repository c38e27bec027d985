"""The test services are real and hold up under concurrent writers.

PostgreSQL: a real server (the system's, or the pgserver wheel's where the system has none),
loopback only, password (scram) required; Optuna's RDBStorage on it serves three processes
optimizing one study at the same time.
MLflow: a real tracking server on that PostgreSQL; three processes logging runs at the
same time lose nothing, and the artifacts land in the server's local folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

N_WORKERS = 3

# Each worker signals READY after its imports, then waits for GO, so the writes overlap
# instead of running one process after the other.
_BARRIER = """
import os, sys, time, pathlib
_sync = pathlib.Path(os.environ["SYNC_DIR"])
(_sync / f"ready-{os.environ['WORKER']}").touch()
_deadline = time.monotonic() + 60
while not (_sync / "go").exists():
    if time.monotonic() > _deadline:
        sys.exit("no GO signal within 60 s")
    time.sleep(0.02)
_released = time.monotonic()
"""

OPTUNA_WORKER = """
import json, time
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
""" + _BARRIER + """
worker = os.environ["WORKER"]
study = optuna.load_study(study_name=os.environ["STUDY"], storage=os.environ["STORAGE"])

def objective(trial):
    trial.set_user_attr("worker", worker)
    x = trial.suggest_float("x", -10, 10)
    time.sleep(0.05)  # long enough for the workers' trials to interleave
    return (x - 2) ** 2

study.optimize(objective, n_trials=int(os.environ["N_TRIALS"]))
print(json.dumps({"worker": worker, "seconds": time.monotonic() - _released}))
"""

MLFLOW_WORKER = """
import json, tempfile
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
""" + _BARRIER + """
worker = os.environ["WORKER"]
client = MlflowClient()  # MLFLOW_TRACKING_URI = the server
run_ids = []
with tempfile.TemporaryDirectory() as tmp:
    for i in range(int(os.environ["N_RUNS"])):
        run = client.create_run(os.environ["EXPERIMENT_ID"], run_name=f"w{worker}-{i}", tags={"worker": worker})
        rid = run.info.run_id
        now = int(time.time() * 1000)
        client.log_batch(
            rid,
            params=[Param("worker", worker), Param("index", str(i)), Param("factor", str(2 ** (i % 5)))],
            metrics=[Metric("loss", 1.0 / (step + 1 + i), now, step) for step in range(3)]
            + [Metric("valid_pr_auc", 0.5 + i / 100, now, 0), Metric("valid_brier", 0.1, now, 0)],
            tags=[RunTag("index", str(i))],
        )
        note = pathlib.Path(tmp) / "note.txt"
        note.write_text(f"worker={worker} index={i} run={rid}\\n")
        client.log_artifact(rid, str(note), artifact_path="notes")
        client.set_terminated(rid, "FINISHED")
        run_ids.append(rid)
print(json.dumps({"worker": worker, "run_ids": run_ids, "seconds": time.monotonic() - _released}))
"""


def _run_workers(code: str, env_extra: dict[str, str], tmp_path: Path, timeout: float = 120) -> list[dict]:
    """Start N_WORKERS python processes running ``code``, release them together, collect JSON."""
    from services import quiet_mlflow_env

    sync = tmp_path / f"sync-{uuid.uuid4().hex[:6]}"
    sync.mkdir()
    procs = []
    for w in range(N_WORKERS):
        env = {**quiet_mlflow_env(), **env_extra, "WORKER": str(w), "SYNC_DIR": str(sync)}
        procs.append(subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=tmp_path,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        deadline = time.monotonic() + 90
        while len(list(sync.glob("ready-*"))) < N_WORKERS:
            crashed = [p for p in procs if p.poll() not in (None, 0)]
            if crashed or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        (sync / "go").touch()
        outputs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    results = []
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, f"worker exited with {p.returncode}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
        assert "database is locked" not in err, err
        results.append({**json.loads(out.strip().splitlines()[-1]), "stderr": err})
    return results


# --------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------


def test_postgres_is_real_loopback_and_password_protected(postgres):
    import psycopg2
    import sqlalchemy as sa

    assert postgres.optuna_url.startswith(f"postgresql+psycopg2://{postgres.user}:")
    assert postgres.optuna_url.endswith(f"@127.0.0.1:{postgres.port}/optuna")
    assert postgres.mlflow_url.endswith(f"@127.0.0.1:{postgres.port}/mlflow")

    engine = sa.create_engine(postgres.optuna_url)
    try:
        with engine.connect() as conn:
            # the server is the binaries the launcher found, not some other one on the machine
            assert conn.execute(sa.text("SHOW server_version_num")).scalar().startswith(str(postgres.version))
            assert conn.execute(sa.text("SHOW listen_addresses")).scalar() == "127.0.0.1"
            assert conn.execute(sa.text("SHOW password_encryption")).scalar() == "scram-sha-256"
            assert conn.execute(sa.text("SELECT current_user")).scalar() == postgres.user
            superuser = conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
            assert superuser is False
            owners = dict(conn.execute(sa.text(
                "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname IN ('optuna', 'mlflow')"
            )).all())
            assert owners == {"optuna": postgres.user, "mlflow": postgres.user}
    finally:
        engine.dispose()

    for password in ("wrong-password", ""):
        with pytest.raises(psycopg2.OperationalError, match="password"):
            psycopg2.connect(host="127.0.0.1", port=postgres.port, user=postgres.user, password=password,
                             dbname="optuna", connect_timeout=5).close()


def _check_pgserver_cluster(service) -> None:
    """The cluster is up on loopback, runs as the account the launcher chose, and wants the password."""
    import psycopg2

    if service.run_as is not None and Path("/proc").is_dir():  # root: the server itself is not root
        pid = int((service.data_dir / "postmaster.pid").read_text().split()[0])
        assert os.stat(f"/proc/{pid}").st_uid == service.run_as.pw_uid != 0
    conn = psycopg2.connect(host="127.0.0.1", port=service.port, user=service.user, password=service.password,
                            dbname="optuna", connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version_num")
            assert cur.fetchone()[0].startswith(str(service.version))
    finally:
        conn.close()
    admin = service.admin_connect()  # data_directory is for superusers to see
    try:
        with admin.cursor() as cur:
            cur.execute("SHOW data_directory")
            assert Path(cur.fetchone()[0]) == service.data_dir
    finally:
        admin.close()
    with pytest.raises(psycopg2.OperationalError, match="password"):
        psycopg2.connect(host="127.0.0.1", port=service.port, user=service.user, password="wrong-password",
                         dbname="optuna", connect_timeout=5).close()


def test_postgres_from_the_pgserver_wheel_when_the_system_has_none(monkeypatch):
    """What a machine with only Python and pip gets: the wheel's binaries and, as root, ``nobody``."""
    from services import PG_FALLBACK_USER, pgserver_bin_dir, start_postgres, stop_postgres

    if pgserver_bin_dir() is None:
        pytest.skip("pgserver has no wheel for this platform (see the test extra in pyproject.toml)")
    monkeypatch.delenv("IMBEXP_PG_BIN_DIR", raising=False)
    monkeypatch.setenv("IMBEXP_PG_IGNORE_SYSTEM", "1")  # as if /usr/lib/postgresql and `postgres` were absent
    service = start_postgres(databases=["optuna"])
    try:
        assert (service.install.source, service.install.bin_dir) == ("pgserver", pgserver_bin_dir())
        assert (service.run_as.pw_name if service.run_as else None) == (PG_FALLBACK_USER if os.geteuid() == 0 else None)
        _check_pgserver_cluster(service)
    finally:
        stop_postgres(service)
    assert not service.root.exists()


def test_postgres_bin_dir_without_the_binaries_is_a_loud_error(monkeypatch, tmp_path):
    """A wrong IMBEXP_PG_BIN_DIR is reported, not silently replaced by other binaries."""
    from services import ServiceError, start_postgres

    (tmp_path / "initdb").write_text("")
    monkeypatch.setenv("IMBEXP_PG_BIN_DIR", str(tmp_path))
    missing = r"does not hold the PostgreSQL server binaries \(missing: pg_ctl, postgres\)"
    with pytest.raises(ServiceError, match=missing):
        start_postgres()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="only root hands the server to another user")
def test_postgres_binaries_the_server_user_cannot_read_are_copied(monkeypatch, tmp_path):
    """A virtualenv under a private folder (/root/.venv): the binaries are copied, not its permissions widened."""
    import shutil

    from services import pgserver_bin_dir, start_postgres, stop_postgres

    bundled = pgserver_bin_dir()
    if bundled is None:
        pytest.skip("pgserver has no wheel for this platform (see the test extra in pyproject.toml)")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    site_packages = bundled.parents[2]
    shutil.copytree(site_packages / "pgserver" / "pginstall", private / "pgserver" / "pginstall", symlinks=True)
    shutil.copytree(site_packages / "pgserver.libs", private / "pgserver.libs", symlinks=True)
    monkeypatch.setenv("IMBEXP_PG_BIN_DIR", str(private / "pgserver" / "pginstall" / "bin"))
    monkeypatch.setenv("IMBEXP_PG_IGNORE_SYSTEM", "1")
    service = start_postgres(databases=["optuna"])
    try:
        assert service.install.source == "IMBEXP_PG_BIN_DIR, copied"
        assert service.install.bin_dir.is_relative_to(service.root)
        assert (private.stat().st_mode & 0o777) == 0o700  # the private folder was left as it was
        _check_pgserver_cluster(service)
    finally:
        stop_postgres(service)
    assert not service.root.exists()


def test_optuna_rdb_storage_with_three_concurrent_processes(postgres, tmp_path):
    import optuna

    storage_url = postgres.create_database("optuna_concurrency")
    study_name = "concurrency-check"
    n_trials = 5
    optuna.create_study(study_name=study_name, storage=storage_url, direction="minimize")

    results = _run_workers(OPTUNA_WORKER, {"STORAGE": storage_url, "STUDY": study_name, "N_TRIALS": str(n_trials)},
                           tmp_path)
    print("optuna workers' seconds after release:", [round(r["seconds"], 2) for r in results])

    study = optuna.load_study(study_name=study_name, storage=storage_url)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == N_WORKERS * n_trials
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(N_WORKERS * n_trials))
    by_worker = {}
    for t in trials:
        by_worker.setdefault(t.user_attrs["worker"], []).append(t)
    assert {w: len(ts) for w, ts in by_worker.items()} == {str(w): n_trials for w in range(N_WORKERS)}
    # the processes really ran at the same time: some trials of different workers overlap
    overlaps = sum(
        1
        for a in trials
        for b in trials
        if a.user_attrs["worker"] < b.user_attrs["worker"]
        and a.datetime_start < b.datetime_complete
        and b.datetime_start < a.datetime_complete
    )
    assert overlaps > 0, "the three workers' trials never overlapped in time"
    assert study.best_value == min(t.value for t in trials)


# --------------------------------------------------------------------------------------
# MLflow tracking server
# --------------------------------------------------------------------------------------


def test_mlflow_server_is_up_and_backed_by_postgres(mlflow_server, mlflow_server_uri, postgres):
    import urllib.request

    assert mlflow_server_uri.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(mlflow_server_uri + "/health", timeout=5) as resp:
        assert resp.status == 200
    assert mlflow_server.process.poll() is None
    # the password is not on the server's command line (it comes through the environment)
    cmdline = Path(f"/proc/{mlflow_server.process.pid}/cmdline")
    if cmdline.exists():
        assert postgres.password not in cmdline.read_bytes().decode(errors="replace")
    assert postgres.password not in mlflow_server.log_text()


def test_mlflow_server_three_concurrent_writers_lose_nothing(mlflow_server, mlflow_server_uri, postgres, tmp_path):
    import sqlalchemy as sa
    from mlflow.entities import RunStatus
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server_uri)
    experiment_id = client.create_experiment(f"concurrency-{uuid.uuid4().hex[:8]}")
    artifact_root = client.get_experiment(experiment_id).artifact_location
    assert artifact_root.startswith("mlflow-artifacts:"), artifact_root  # proxied through the server
    n_runs = 10

    results = _run_workers(MLFLOW_WORKER, {"MLFLOW_TRACKING_URI": mlflow_server_uri,
                                           "EXPERIMENT_ID": experiment_id, "N_RUNS": str(n_runs)}, tmp_path)
    print("mlflow workers' seconds after release:", [round(r["seconds"], 2) for r in results])
    reported = {rid for r in results for rid in r["run_ids"]}
    assert len(reported) == N_WORKERS * n_runs

    runs = client.search_runs([experiment_id], max_results=1000)
    assert {r.info.run_id for r in runs} == reported
    assert all(r.info.status == RunStatus.to_string(RunStatus.FINISHED) for r in runs)
    seen = set()
    for r in runs:
        worker, index = r.data.params["worker"], int(r.data.params["index"])
        seen.add((worker, index))
        assert r.data.tags["worker"] == worker
        assert r.data.params["factor"] == str(2 ** (index % 5))
        assert set(r.data.metrics) == {"loss", "valid_pr_auc", "valid_brier"}
    assert seen == {(str(w), i) for w in range(N_WORKERS) for i in range(n_runs)}
    # the workers really wrote at the same time: runs of different workers overlap
    assert any(
        a.data.tags["worker"] < b.data.tags["worker"]
        and a.info.start_time < b.info.end_time
        and b.info.start_time < a.info.end_time
        for a in runs
        for b in runs
    ), "the three workers' runs never overlapped in time"

    # the runs are rows in PostgreSQL, not in some local file
    engine = sa.create_engine(postgres.mlflow_url)
    try:
        with engine.connect() as conn:
            finished = conn.execute(sa.text(
                "SELECT count(*) FROM runs WHERE experiment_id = :e AND status = 'FINISHED'"
            ), {"e": int(experiment_id)}).scalar()
            loss_points = conn.execute(sa.text(
                "SELECT count(*) FROM metrics m JOIN runs r ON r.run_uuid = m.run_uuid "
                "WHERE r.experiment_id = :e AND m.key = 'loss'"
            ), {"e": int(experiment_id)}).scalar()
    finally:
        engine.dispose()
    assert finished == N_WORKERS * n_runs
    assert loss_points == N_WORKERS * n_runs * 3  # the full metric history of every run

    # artifacts went through the server into its local folder, one note per run
    notes = list(mlflow_server.artifacts_dir.rglob("notes/note.txt"))
    assert len(notes) == N_WORKERS * n_runs
    by_run = {}
    for note in notes:
        fields = dict(kv.split("=", 1) for kv in note.read_text().split())
        by_run[fields["run"]] = fields
    assert set(by_run) == reported
    assert client.list_artifacts(runs[0].info.run_id, "notes")[0].path == "notes/note.txt"

    log = mlflow_server.log_text()
    assert "database is locked" not in log
    assert '" 500 ' not in log, log[-3000:]
    assert postgres.password not in log
    assert all(postgres.password not in r["stderr"] for r in results)
    assert os.path.isdir(mlflow_server.artifacts_dir)


def test_mlflow_server_start_failure_reports_its_log(postgres):
    from services import ServiceError, start_mlflow_server

    # a server that dies at start: the error carries its log
    with pytest.raises(ServiceError, match="exited with code") as failed:
        start_mlflow_server("unsupported-scheme://nowhere", start_timeout=60)
    assert "--- server log" in str(failed.value)
    assert "unsupported-scheme" in str(failed.value).split("--- server log", 1)[1]

    # a database it could not log in to: reported at once, password masked
    wrong = postgres.url("mlflow").replace(postgres.password, "not-the-password")
    with pytest.raises(ServiceError, match="password authentication failed") as refused:
        start_mlflow_server(wrong, secrets=["not-the-password"])
    assert "not-the-password" not in str(refused.value)
