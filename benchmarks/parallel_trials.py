"""Wall time of the same fixed trials with ``hydra.sweeper.n_jobs=1`` and ``n_jobs=2``.

    python benchmarks/parallel_trials.py [--rows 200000] [--trees 200] [--trials 8] [--jobs 2]
                                         [--threads N] [--model lightgbm|logistic_regression]

Both sweeps run a grid sampler over the same points (downsample factors x upweight factors 1
and 16), each in a fresh IMBEXP_HOME whose MLflow database is created beforehand, so they fit
exactly the same models; each must end with every point COMPLETE. Printed for each: the wall
time of the command and the *trial span* (first trial's start to last trial's end, from the
MLflow child runs), i.e. the wall time without start-up and the end-of-sweep summary, which are
paid once per sweep in either mode. Then both ratios t(n_jobs=1) / t(n_jobs=k).

Where a parallel sweep loses against k times the serial one, per process (the leader and each
worker, from the Optuna trials' start and end times and the worker each ran in): when its first
trial started (counted from the command's start: the worker's includes its own start-up, a
second Python process importing everything, composing the config and opening both stores),
the time it spent in trials, and how long it sat idle at the end while another process ran the
last trial; and the tail after the last trial (the end-of-sweep summary, comparisons, report).

Model threads follow IMBEXP_THREADS = cores // n_jobs, as the sweeper sets it, so both sweeps
use every core; ``--threads 1`` pins them to compare the same single-threaded fits run one or
two at a time. For LightGBM the script also times one fit of the first trial's size with 1 and
with every core: the speed-up LightGBM already gets from the cores on its own, which bounds what
running trials side by side can add.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

FACTORS = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 48.0, 64.0, 96.0, 128.0, 192.0, 256.0]


def grid(trials: int) -> list[str]:
    if trials % 2 or not 2 <= trials <= 2 * len(FACTORS):
        sys.exit(f"--trials={trials}: use an even number from 2 to {2 * len(FACTORS)}")
    factors = ", ".join(map(str, FACTORS[:trials // 2]))
    return [f"strategy.downsample_factor=choice({factors})", "strategy.upweight_factor=choice(1.0, 16.0)"]


def model_overrides(model: str, trees: int) -> list[str]:
    return [f"model.estimator.n_estimators={trees}"] if model == "lightgbm" else [f"model={model}"]


def timeline(trials: list, leader_pid: int, started: float, ended: float) -> str:
    """Per process: first trial's start after the command's, time in trials, idle at the end;
    then the tail after the last trial."""
    by_process: dict[str, list] = {}
    for trial in trials:  # the trial's process, recorded as host:pid
        by_process.setdefault(str(trial.user_attrs.get("imbexp.worker", "?")), []).append(trial)
    last = max(t.datetime_complete.timestamp() for t in trials)
    parts = []
    for process, done in sorted(by_process.items(), key=lambda item: min(t.datetime_start for t in item[1])):
        first = min(t.datetime_start.timestamp() for t in done) - started
        busy = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in done)
        idle = last - max(t.datetime_complete.timestamp() for t in done)
        who = "leader" if process.endswith(f":{leader_pid}") else f"worker {process}"
        parts.append(f"{who}: {len(done)} trials, first at +{first:.1f} s, {busy:.1f} s in trials, "
                     f"idle {idle:.1f} s at the end")
    return "; ".join(parts) + f"; after the last trial {ended - last:.1f} s"


def sweep(n_jobs: int, args: argparse.Namespace) -> tuple[float, float]:
    """Wall time of the command, and the span of its trials."""
    with tempfile.TemporaryDirectory(prefix="imbexp-bench-") as home:
        env = {**os.environ, "IMBEXP_HOME": home}
        env.pop("IMBEXP_THREADS", None)
        if args.threads:
            env["IMBEXP_THREADS"] = str(args.threads)
        uri = f"sqlite:///{home}/runs/mlflow.db"
        # create the MLflow database first, so both timings leave out its one-off migration
        subprocess.run([sys.executable, "-c", f"import mlflow; mlflow.set_tracking_uri('{uri}'); "
                        "mlflow.search_experiments()"], env=env, check=True, capture_output=True)
        command = [sys.executable, "-m", "imbexp", "sweep=downsample_upweight", "hydra/sweeper/sampler=grid",
                   f"hydra.sweeper.n_trials={args.trials}", f"hydra.sweeper.n_jobs={n_jobs}",
                   f"dataset.rows={args.rows}", *model_overrides(args.model, args.trees), *grid(args.trials)]
        started, start = time.time(), time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   cwd=home)
        stdout, stderr = process.communicate()
        elapsed = time.perf_counter() - start
        ended = time.time()
        result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
        if result.returncode != 0:
            sys.exit(f"n_jobs={n_jobs} failed:\n{result.stderr[-3000:]}")
        import optuna
        from mlflow.tracking import MlflowClient

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = f"sqlite:///{home}/runs/optuna.db"
        [summary] = optuna.get_all_study_summaries(storage)
        trials = optuna.load_study(study_name=summary.study_name, storage=storage).trials
        complete = sum(t.state.name == "COMPLETE" for t in trials)
        print(f"  n_jobs={n_jobs}: {timeline([t for t in trials if t.datetime_complete], process.pid, started, ended)}",
              flush=True)
        if complete != args.trials:
            sys.exit(f"n_jobs={n_jobs} finished {complete} trials, not {args.trials}")
        client = MlflowClient(uri)
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=1000)
        children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        span = (max(r.info.end_time for r in children) - min(r.info.start_time for r in children)) / 1000
        return elapsed, span


def lightgbm_threads(rows: int, trees: int) -> tuple[float, float]:
    """One fit of the first grid point (every training row, 60 % of the data): 1 thread, every core."""
    import lightgbm
    import numpy as np
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=int(rows * 0.6), n_features=20, n_informative=8, n_redundant=2,
                               weights=[0.98], flip_y=0.0, random_state=0)
    X = X.astype(np.float32)
    times = []
    for threads in (1, os.cpu_count() or 1):
        model = lightgbm.LGBMClassifier(n_estimators=trees, learning_rate=0.05, n_jobs=threads, verbose=-1)
        start = time.perf_counter()
        model.fit(X, y)
        times.append(time.perf_counter() - start)
    return times[0], times[1]


def _fits(rows: int, trees: int, repeats: int) -> list[float]:
    """``repeats`` single-threaded fits of the first grid point, one after another (the data made first)."""
    import lightgbm
    import numpy as np
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=int(rows * 0.6), n_features=20, n_informative=8, n_redundant=2,
                               weights=[0.98], flip_y=0.0, random_state=0)
    X = X.astype(np.float32)
    times = []
    for _ in range(repeats):
        model = lightgbm.LGBMClassifier(n_estimators=trees, learning_rate=0.05, n_jobs=1, verbose=-1)
        start = time.perf_counter()
        model.fit(X, y)
        times.append(time.perf_counter() - start)
    return times


def ceiling(rows: int, trees: int, jobs: int) -> tuple[float, float]:
    """The most ``n_jobs=jobs`` can give with single-threaded fits on this machine, imbexp aside:
    the same fit in one process alone, then in ``jobs`` processes at once (each fitting 3 times
    in a row; the middle fit, which the others overlap whole, is the one counted). Two fits at
    once can be slower each than one alone: shared caches and memory bandwidth, or two virtual
    cores on one physical core."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1) as pool:
        alone = pool.submit(_fits, rows, trees, 3).result()[1]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        together = [f.result()[1] for f in [pool.submit(_fits, rows, trees, 3) for _ in range(jobs)]]
    return alone, max(together)


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--model", default="lightgbm", choices=["lightgbm", "logistic_regression"])
    parser.add_argument("--threads", type=int, default=None,
                        help="pin model threads for both sweeps (default: cores // n_jobs, as the sweeper sets it)")
    args = parser.parse_args()
    print(f"{args.trials} grid trials, synthetic data {args.rows:,} rows, {args.model}"
          f"{f' {args.trees} trees' if args.model == 'lightgbm' else ''}, {os.cpu_count()} cores, "
          f"model threads {args.threads or 'cores // n_jobs'}; {load()}", flush=True)
    if args.model == "lightgbm":
        one, every = lightgbm_threads(args.rows, args.trees)
        print(f"LightGBM alone, one fit of {int(args.rows * 0.6):,} rows: 1 thread {one:.2f} s, "
              f"{os.cpu_count()} threads {every:.2f} s ({one / every:.2f}x); {load()}", flush=True)
        if (args.threads or 0) == 1:
            alone, together = ceiling(args.rows, args.trees, args.jobs)
            print(f"The same single-threaded fit alone {alone:.2f} s, in {args.jobs} processes at once {together:.2f} s "
                  f"each: the ceiling of n_jobs={args.jobs} here, imbexp aside, is {args.jobs * alone / together:.2f}x; "
                  f"{load()}", flush=True)
    serial, serial_span = sweep(1, args)
    print(f"n_jobs=1: {serial:.1f} s (trials {serial_span:.1f} s); {load()}", flush=True)
    parallel, parallel_span = sweep(args.jobs, args)
    print(f"n_jobs={args.jobs}: {parallel:.1f} s (trials {parallel_span:.1f} s); {load()}", flush=True)
    print(f"speed-up t(n_jobs=1) / t(n_jobs={args.jobs}): wall {serial / parallel:.2f}x, "
          f"trials {serial_span / parallel_span:.2f}x")


if __name__ == "__main__":
    main()
