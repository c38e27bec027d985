"""Wall time of one 12-trial sweep run by 3 worker processes against 1, on PostgreSQL + an MLflow server.

    python benchmarks/scale_out.py [--workers 3] [--rows 20000] [--trees 50] [--threads N]

Starts a throwaway PostgreSQL 15 cluster and an ``mlflow server`` backed by it (the test
services of tests/services.py: loopback only, needs the PostgreSQL 15 server binaries; as root
they run as the ``postgres`` user), then runs the same grid of 12 points (6 downsample factors x
2 upweight factors, so both runs fit exactly the same models) twice, each on a fresh database
and a fresh MLflow experiment:

- 1 process: ``python -m imbexp sweep=downsample_upweight ...`` once;
- N processes: the same command started N times at once, as on N machines.

Printed per run: the wall time from starting the processes to the last one's exit, and the
time from the first trial's start to the last trial's end (the part that parallelises; the
rest is Python start-up, and the parent run's summary and report). Each run must end with 12
COMPLETE trials and 12 MLflow child runs under one parent. Model threads: each command sets
IMBEXP_THREADS = cores (it runs one trial at a time), as a user's command would; ``--threads``
pins them for both runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

GRID = ["hydra/sweeper/sampler=grid", "strategy.downsample_factor=choice(1.0, 2.0, 4.0, 8.0, 16.0, 32.0)",
        "strategy.upweight_factor=choice(1.0, 8.0)"]
N_TRIALS = 12
PASSWORD_ENV = "IMBEXP_PG_PASSWORD"


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0] if Path("/proc/loadavg").exists() else "?"


def sweep(postgres, tracking_uri: str, processes: int, args: argparse.Namespace) -> tuple[float, float]:
    import optuna
    from mlflow.tracking import MlflowClient
    from services import quiet_mlflow_env

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = postgres.create_database()
    database = storage.rsplit("/", 1)[1]
    name = f"bench-{processes}-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix="imbexp-bench-") as home:
        env = {**quiet_mlflow_env(), "IMBEXP_HOME": home, PASSWORD_ENV: postgres.password}
        env.pop("IMBEXP_THREADS", None)
        if args.threads:
            env["IMBEXP_THREADS"] = str(args.threads)
        command = [sys.executable, "-m", "imbexp", "sweep=downsample_upweight", *GRID,
                   f"hydra.sweeper.storage=postgresql+psycopg2://{postgres.user}:${{oc.env:{PASSWORD_ENV}}}"
                   f"@{postgres.host}:{postgres.port}/{database}",
                   f"hydra.sweeper.study_name={name}", f"tracking.uri={tracking_uri}", f"tracking.experiment={name}",
                   f"dataset.rows={args.rows}", f"model.estimator.n_estimators={args.trees}"]
        start = time.perf_counter()
        procs = [subprocess.Popen(command, env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True) for _ in range(processes)]
        outputs = [p.communicate()[0] for p in procs]
        elapsed = time.perf_counter() - start
        for proc, output in zip(procs, outputs, strict=True):
            if proc.returncode != 0:
                sys.exit(f"{processes} process(es): a command failed:\n{output[-3000:]}")
        trials = optuna.load_study(study_name=name, storage=storage).get_trials()
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        if len(complete) != N_TRIALS:
            sys.exit(f"{processes} process(es): {len(complete)} COMPLETE trials, not {N_TRIALS}")
        client = MlflowClient(tracking_uri)
        experiment = client.get_experiment_by_name(name)
        runs = client.search_runs([experiment.experiment_id], max_results=1000)
        parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        if len(parents) != 1 or len(runs) != N_TRIALS + 1:
            sys.exit(f"{processes} process(es): {len(parents)} parent runs and {len(runs) - len(parents)} children")
        trials_span = (max(t.datetime_complete for t in complete)
                       - min(t.datetime_start for t in complete)).total_seconds()
        return elapsed, trials_span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--trees", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None, help="pin model threads (default: the sweeper's)")
    args = parser.parse_args()

    from services import start_mlflow_server, start_postgres, stop_mlflow_server, stop_postgres

    postgres = start_postgres()
    server = None
    try:
        server = start_mlflow_server(postgres.mlflow_url, secrets=[postgres.password, postgres.admin_password])
        print(f"{N_TRIALS} grid trials, synthetic data {args.rows:,} rows, LightGBM {args.trees} trees, "
              f"{os.cpu_count()} cores, model threads {args.threads or 'the sweeper default'}; "
              f"PostgreSQL 15 + mlflow server on 127.0.0.1", flush=True)
        results = {}
        for processes in (1, args.workers):
            before = load()
            wall, span = sweep(postgres, server.url, processes, args)
            results[processes] = wall
            print(f"{processes} process(es): {wall:.1f} s wall, {span:.1f} s from the first trial's start to the "
                  f"last one's end (1-min load {before} before, {load()} after)", flush=True)
        print(f"speed-up t(1) / t({args.workers}) = {results[1] / results[args.workers]:.2f}x")
    finally:
        if server is not None:
            stop_mlflow_server(server)
        stop_postgres(postgres)


if __name__ == "__main__":
    main()
