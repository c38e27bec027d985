"""Wall time of the same fixed trials with ``hydra.sweeper.n_jobs=1`` and ``n_jobs=2``.

    python benchmarks/parallel_trials.py [--rows 200000] [--trees 200] [--jobs 2]

Both sweeps run a grid sampler over the same 8 points (downsample factor x upweight factor),
each in a fresh IMBEXP_HOME, so they fit exactly the same models; the ratio printed at the end is
t(n_jobs=1) / t(n_jobs=k). Model threads follow IMBEXP_THREADS = cores // n_jobs, as the
sweeper sets it, so both sweeps use every core; ``--threads 1`` pins them to compare the same
single-threaded fits run one or two at a time. Each sweep must end with 8 COMPLETE trials.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

GRID = ["strategy.downsample_factor=choice(1.0, 4.0, 16.0, 48.0)", "strategy.upweight_factor=choice(1.0, 16.0)"]


def sweep(n_jobs: int, rows: int, trees: int, threads: int | None) -> float:
    with tempfile.TemporaryDirectory(prefix="imbexp-bench-") as home:
        env = {**os.environ, "IMBEXP_HOME": home}
        env.pop("IMBEXP_THREADS", None)
        if threads:
            env["IMBEXP_THREADS"] = str(threads)
        # create the MLflow database first, so both timings leave out its one-off migration
        subprocess.run([sys.executable, "-c", "import mlflow; mlflow.set_tracking_uri("
                        f"'sqlite:///{home}/runs/mlflow.db'); mlflow.search_experiments()"],
                       env=env, check=True, capture_output=True)
        command = [sys.executable, "-m", "imbexp", "sweep=downsample_upweight", "hydra/sweeper/sampler=grid",
                   "hydra.sweeper.n_trials=8", f"hydra.sweeper.n_jobs={n_jobs}", f"dataset.rows={rows}",
                   f"model.estimator.n_estimators={trees}", *GRID]
        start = time.perf_counter()
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            sys.exit(f"n_jobs={n_jobs} failed:\n{result.stderr[-3000:]}")
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = f"sqlite:///{home}/runs/optuna.db"
        [summary] = optuna.get_all_study_summaries(storage)
        complete = sum(t.state.name == "COMPLETE" for t in optuna.load_study(
            study_name=summary.study_name, storage=storage).trials)
        if complete != 8:
            sys.exit(f"n_jobs={n_jobs} finished {complete} trials, not 8")
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None,
                        help="pin model threads for both sweeps (default: cores // n_jobs, as the sweeper sets it)")
    args = parser.parse_args()
    print(f"8 grid trials, synthetic data {args.rows:,} rows, LightGBM {args.trees} trees, "
          f"{os.cpu_count()} cores, model threads {args.threads or 'cores // n_jobs'}", flush=True)
    serial = sweep(1, args.rows, args.trees, args.threads)
    print(f"n_jobs=1: {serial:.1f} s", flush=True)
    parallel = sweep(args.jobs, args.rows, args.trees, args.threads)
    print(f"n_jobs={args.jobs}: {parallel:.1f} s", flush=True)
    print(f"speed-up t(n_jobs=1) / t(n_jobs={args.jobs}) = {serial / parallel:.2f}x")


if __name__ == "__main__":
    main()
