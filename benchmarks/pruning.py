"""What pruning saves: the same 50-trial ``split=cv`` sweep without a pruner and with each pruner
given, on a fresh store each, with the same seed (so the first trials, drawn before the sampler
learns, are the same).

    nice -n 10 python benchmarks/pruning.py                       # none, median, successive_halving
    nice -n 10 python benchmarks/pruning.py --pruners none,wilcoxon --rows 4000

Compute is measured two ways: the summed duration of the study's trials (one process runs them
one after another, so this is the time spent fitting and scoring) and the CPU seconds of the sweep
command (user + system, start-up and the sweep's end included); wall time is the command's. The
best value's noise is the standard error of the best trial's CV mean (its folds' sd / sqrt(folds)).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sweep_command(pruner: str, args: argparse.Namespace) -> list[str]:
    # sweep=joint: the factors and LightGBM's parameters, where many draws are clearly worse
    # (a learning rate of 0.01 with few trees, leaves of 200 rows) and the first folds show it
    return [sys.executable, "-m", "imbexp", "sweep=joint", "split=cv", f"split.n_splits={args.folds}",
            f"dataset.rows={args.rows}", "metrics.bootstrap=0", "tracking.log_model=false",
            f"hydra.sweeper.n_trials={args.trials}", f"hydra.sweeper.sampler.seed={args.seed}",
            f"hydra.sweeper.study_name=pruning-{pruner}", "model.estimator.n_estimators=range(20, 201, 20)",
            f"hydra/sweeper/pruner={pruner}"]


def run(pruner: str, args: argparse.Namespace) -> dict[str, float | str]:
    import mlflow
    import optuna
    from optuna.trial import TrialState

    home = Path(tempfile.mkdtemp(prefix=f"imbexp-pruning-{pruner}-"))
    env = {**os.environ, "IMBEXP_HOME": str(home), "IMBEXP_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = subprocess.run(sweep_command(pruner, args), cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"the {pruner} sweep failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    study = optuna.load_study(study_name=f"pruning-{pruner}", storage=f"sqlite:///{home}/runs/optuna.db")
    trials = study.get_trials(deepcopy=False)
    best = study.best_trial
    client = mlflow.MlflowClient(f"sqlite:///{home}/runs/mlflow.db")
    metrics = client.get_run(best.user_attrs["mlflow_run_id"]).data.metrics
    # every trial's model fits: a complete run logs fit_seconds at its end, a pruned one when cut
    runs = [client.get_run(t.user_attrs["mlflow_run_id"]) for t in trials]
    return {
        "pruner": pruner,
        "best": best.value,
        "best_se": metrics["valid_pr_auc_std"] / math.sqrt(metrics["cv_folds"]),
        "complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        # folds fitted, plus the test model of each complete trial
        "fits": sum(args.folds + 1 if t.state == TrialState.COMPLETE else len(t.intermediate_values) for t in trials),
        "fit_seconds": sum(run.data.metrics.get("fit_seconds", 0.0) for run in runs),
        "trial_seconds": sum(t.duration.total_seconds() for t in trials if t.duration),
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "wall_seconds": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pruners", default="none,median,successive_halving")
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"load at start: {os.getloadavg()[0]:.1f}; {args.trials} trials, {args.rows} rows, "
          f"{args.folds}-fold CV", flush=True)
    rows = []
    for pruner in args.pruners.split(","):
        rows.append(run(pruner, args))
        row = rows[-1]
        print(f"{pruner}: best {row['best']:.4f} ± {row['best_se']:.4f}, {row['complete']} complete, "
              f"{row['pruned']} pruned, {row['fits']} fits in {row['fit_seconds']:.1f} s, "
              f"trials {row['trial_seconds']:.1f} s, "
              f"CPU {row['cpu_seconds']:.1f} s, wall {row['wall_seconds']:.1f} s "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)
    base = rows[0]
    print("\n| pruner | best valid PR-AUC (± se) | complete / pruned | fits | fit time | trial time | CPU time "
          "| wall time |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        def share(key: str, row: dict = row, unit: str = " s") -> str:
            if row is base:
                return f"{row[key]:.0f}{unit}"
            saved = 100 * (1 - row[key] / base[key])
            change = f"{saved:.0f} % less" if saved >= 0 else f"{-saved:.0f} % more"
            return f"{row[key]:.0f}{unit} ({change})"
        print(f"| {row['pruner']} | {row['best']:.4f} ± {row['best_se']:.4f} | {row['complete']} / {row['pruned']} "
              f"| {share('fits', unit='')} | {share('fit_seconds')} | {share('trial_seconds')} | "
              f"{share('cpu_seconds')} | {share('wall_seconds')} |")


if __name__ == "__main__":
    main()
