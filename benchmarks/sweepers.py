"""Wall time of the same 20 trials under imbexp's sweeper and the official Optuna sweeper.

    python benchmarks/sweepers.py [--rows 20000] [--trees 100] [--official-python PATH]
                                  [--only imbexp|official]

The trials are a grid of downsample factor (1, 2, 4, 8, 16) x upweight factor (1, 2, 4, 8) of
imbexp's app on its synthetic dataset with LightGBM: 20 points, one trial each, so both sweepers
fit exactly the same 20 models. Each sweep runs in a fresh IMBEXP_HOME (its MLflow database
created beforehand) with IMBEXP_THREADS=1: one thread per fit, so two trials at once can use
the 2 cores and neither sweeper's figure measures LightGBM's own threading.

- ``imbexp_optuna`` (``hydra/sweeper=imbexp_optuna hydra/sweeper/sampler=grid``) with
  ``n_jobs=1`` and ``n_jobs=2`` (two processes asking one study; no batches);
- the official plugin (``hydra/sweeper=optuna hydra/sweeper/sampler=grid``, hydra-optuna-sweeper
  1.4.0rc3) with ``n_jobs=1``, with ``n_jobs=2`` under Hydra's basic launcher (its default: a
  "batch" of 2 trials is launched, but the basic launcher runs a batch's jobs one after the
  other), and with ``n_jobs=2`` under the joblib launcher (``hydra/launcher=joblib``, if
  hydra-joblib-launcher is installed: the batch's 2 trials run in 2 processes, and the next
  batch waits for the slower of them).

The official plugin needs hydra-core >= 1.4, which pip installs only when asked for the
pre-release, so it runs from another virtualenv (``--official-python``, e.g. one with
hydra-core==1.4.0rc3, hydra-optuna-sweeper==1.4.0rc3, hydra-joblib-launcher and this checkout
installed with ``pip install --no-deps -e .``).
Printed: each sweep's wall time (the command, start-up and end included) and trial span (first
trial's start to last trial's end, from the trials in the Optuna study), then the load average.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOWNSAMPLE = "choice(1.0, 2.0, 4.0, 8.0, 16.0)"
UPWEIGHT = "choice(1.0, 2.0, 4.0, 8.0)"
TRIALS = 20


def _preset(folder: Path, sweeper: str) -> None:
    """The sweep as a preset: the official plugin reads ``params`` from config only."""
    (folder / "sweep").mkdir(parents=True)
    (folder / "sweep" / "bench.yaml").write_text(f"""\
# @package _global_
defaults:
  - override /strategy: downsample_upweight
  - override /hydra/sweeper: {sweeper}
hydra:
  sweeper:
    direction: maximize
    n_trials: {TRIALS}
    params:
      strategy.downsample_factor: {DOWNSAMPLE}
      strategy.upweight_factor: {UPWEIGHT}
""")


def sweep(label: str, python: str, sweeper: str, overrides: list[str], args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="imbexp-bench-") as home:
        env = {**os.environ, "IMBEXP_HOME": home, "IMBEXP_THREADS": "1", "PYTHONPATH": str(ROOT)}
        uri = f"sqlite:///{home}/runs/mlflow.db"
        storage = f"sqlite:///{home}/runs/optuna.db"
        (Path(home) / "runs").mkdir()
        # create the MLflow database first, so no timing includes its one-off migration
        subprocess.run([python, "-c", f"import mlflow; mlflow.set_tracking_uri('{uri}'); mlflow.search_experiments()"],
                       env=env, check=True, capture_output=True)
        _preset(Path(home) / "conf", sweeper)
        command = [python, "-m", "imbexp", "-m", f"--config-dir={home}/conf", "sweep=bench",
                   f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=bench",
                   f"dataset.rows={args.rows}", f"model.estimator.n_estimators={args.trees}",
                   "model.estimator.n_jobs=1", *overrides]
        start = time.perf_counter()
        result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=home)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            sys.exit(f"{label} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        trials = optuna.load_study(study_name="bench", storage=storage).trials
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        points = {(t.params["strategy.downsample_factor"], t.params["strategy.upweight_factor"]) for t in complete}
        if len(complete) != TRIALS or len(points) != TRIALS:
            sys.exit(f"{label}: {len(complete)} complete trials over {len(points)} points, not {TRIALS}")
        span = (max(t.datetime_complete for t in complete) - min(t.datetime_start for t in complete)).total_seconds()
        row = {"sweeper": label, "wall_s": elapsed, "trials_span_s": span, "load": os.getloadavg()[0]}
        print(f"{label:<48} wall {elapsed:6.1f} s   trials {span:6.1f} s   load {row['load']:.1f}", flush=True)
        return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--official-python", default=None,
                        help="python of a virtualenv with hydra-core 1.4 and hydra-optuna-sweeper 1.4.0rc3")
    parser.add_argument("--only", choices=["imbexp", "official"], default=None)
    args = parser.parse_args()
    print(f"{TRIALS} trials: dataset.rows={args.rows}, LightGBM {args.trees} trees, IMBEXP_THREADS=1; "
          f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    rows = []
    if args.only != "official":
        for jobs in (1, 2):
            rows.append(sweep(f"imbexp_optuna n_jobs={jobs}", sys.executable, "imbexp_optuna",
                              ["hydra/sweeper/sampler=grid", f"hydra.sweeper.n_jobs={jobs}"], args))
    if args.only != "imbexp":
        if not args.official_python:
            sys.exit("--official-python is needed for the official plugin (it requires hydra-core >= 1.4)")
        official = ["hydra/sweeper/sampler=grid"]
        rows.append(sweep("official n_jobs=1", args.official_python, "optuna", [*official, "hydra.sweeper.n_jobs=1"],
                          args))
        rows.append(sweep("official n_jobs=2 (basic launcher)", args.official_python, "optuna",
                          [*official, "hydra.sweeper.n_jobs=2"], args))
        has_joblib = subprocess.run([args.official_python, "-c", "import hydra_plugins.hydra_joblib_launcher"],
                                    capture_output=True).returncode == 0
        if has_joblib:
            rows.append(sweep("official n_jobs=2 (joblib launcher, 2 processes)", args.official_python, "optuna",
                              [*official, "hydra.sweeper.n_jobs=2", "hydra/launcher=joblib",
                               "hydra.launcher.n_jobs=2"], args))
    print()
    print("| sweeper | wall time (s) | trial span (s) | 1-min load at the end |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['sweeper']} | {row['wall_s']:.1f} | {row['trials_span_s']:.1f} | {row['load']:.1f} |")


if __name__ == "__main__":
    main()
