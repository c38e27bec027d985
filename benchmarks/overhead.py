"""What imbexp adds to a sweep: ``python -m imbexp`` against a plain loop doing the same fits.

    python benchmarks/overhead.py [--rows 200000] [--factors 1,3,10,30,100] [--weights 1,10]
                                  [--trees 200] [--threads 2] [--profile out.prof] [OVERRIDE ...]
    python benchmarks/overhead.py --grid [--factors 1,2,5,10,20,50] ...

The sweep is the real command line: ``sweep=downsample_upweight`` with a grid sampler over
downsample factor x upweight factor (one trial per pair), LightGBM, the synthetic dataset, in a
fresh IMBEXP_HOME whose MLflow database is created beforehand (its one-off migration is timed
apart). The plain loop is what a user would otherwise write: the same data, the same stratified
split, the same rows kept, the same LightGBM, predictions on valid and test and their PR-AUC,
nothing tracked. Both run as fresh Python processes, so both pay their imports. The loop runs before and after the
sweep and the two are averaged: this machine's speed drifts by 10-15 % over minutes, and the
same LightGBM fits then look faster on whichever side ran in the faster minutes. Trailing ``OVERRIDE`` arguments go to
the sweep's command line as they are (e.g. ``metrics.bootstrap=0``).

``--grid`` times Hydra's own multirun instead: ``python -m imbexp -m strategy=downsample_upweight
strategy.downsample_factor=1,2,5,10,20,50`` (Hydra's basic sweeper and launcher, imbexp's grid
callback with its parent run, the comparison with a baseline and the report at the end), one
job per factor with the upweight factor left at the downsample factor; the plain loop fits the
same pairs. The grid adds one ``strategy=none`` baseline run to compare its jobs with, a fit the
loop does not make: its wall time is printed apart (from its MLflow run) and the ratio is given
with and without it.

Printed: both wall times, their ratio, and a per-trial breakdown read back from the runs'
``seconds_<stage>`` metrics (config, data, resample, fit, predict, metrics, plots, tracking),
with the sweeper's own time per trial (Hydra composing the trial's config, Optuna, the child
run) as the trial's wall time minus the stages. ``--profile`` writes a cProfile of the sweep.

``--threads`` sets LightGBM's threads on both sides (IMBEXP_THREADS for the sweep); default:
every core, as imbexp does. On a machine other processes keep busy, two OpenMP threads on two
cores wait for each other at every tree level (the same fit measured 0.2 s and 18 s a minute
apart), so ``--threads 1`` measures imbexp rather than the neighbours.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPLIT_SEED = 0  # imbexp's default seed: split, resampling and model
PLAIN_STAGES = ("resample", "fit", "predict", "metrics")


def plain_loop(rows: int, pairs: list[tuple[float, float]], trees: int, threads: int) -> dict:
    """The hand-written loop; runs in its own process (``--plain``)."""
    started = time.perf_counter()
    import lightgbm
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import train_test_split

    imported = time.perf_counter()
    # imbexp's synthetic dataset: the same generator and arguments
    X, y = make_classification(n_samples=rows, n_features=20, n_informative=8, n_redundant=2,
                               weights=[0.98], flip_y=0.0, class_sep=1.0, random_state=0)
    X = X.astype(np.float32)
    positions = np.arange(rows)
    train, test = train_test_split(positions, test_size=0.2, stratify=y, random_state=SPLIT_SEED)
    train, valid = train_test_split(train, test_size=0.25, stratify=y[train], random_state=SPLIT_SEED + 1)
    train, valid, test = np.sort(train), np.sort(valid), np.sort(test)
    loaded = time.perf_counter()
    trials = []
    for factor, weight in pairs:
        t0 = time.perf_counter()
        rng = np.random.default_rng(SPLIT_SEED)
        y_train = y[train]
        minority = np.flatnonzero(y_train == 1)
        majority = np.flatnonzero(y_train == 0)
        if factor != 1:
            majority = rng.choice(majority, size=int(round(len(majority) / factor)), replace=False)
        kept = np.sort(np.concatenate([majority, minority]))
        rows_kept = train[kept]
        sample_weight = np.where(y[rows_kept] == 0, weight, 1.0)
        t1 = time.perf_counter()
        model = lightgbm.LGBMClassifier(n_estimators=trees, learning_rate=0.05, num_leaves=31, min_child_samples=20,
                                        subsample=1.0, colsample_bytree=1.0, reg_lambda=0.0,
                                        n_jobs=threads, verbose=-1, random_state=SPLIT_SEED)
        model.fit(X[rows_kept], y[rows_kept], sample_weight=sample_weight)
        t2 = time.perf_counter()
        p_valid = model.predict_proba(X[valid])[:, 1]
        p_test = model.predict_proba(X[test])[:, 1]
        t3 = time.perf_counter()
        scores = (average_precision_score(y[valid], p_valid), average_precision_score(y[test], p_test))
        t4 = time.perf_counter()
        trials.append({"factor": factor, "weight": weight, "resample": t1 - t0, "fit": t2 - t1, "predict": t3 - t2,
                       "metrics": t4 - t3, "valid_pr_auc": scores[0]})
    return {"imports": imported - started, "data": loaded - imported, "trials": trials}


def make_database(home: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import mlflow; mlflow.set_tracking_uri("
                    f"'sqlite:///{home}/runs/mlflow.db'); mlflow.search_experiments()"],
                   env={**os.environ, "IMBEXP_HOME": home}, check=True, capture_output=True)
    return time.perf_counter() - start


def sweep(home: str, rows: int, factors: list[float], weights: list[float], trees: int, threads: int,
          profile: str | None, extra: list[str], grid: bool = False) -> tuple[float, float, float]:
    """Wall time of the sweep command, and its start and end as epoch seconds."""
    env = {**os.environ, "IMBEXP_HOME": home, "IMBEXP_THREADS": str(threads)}
    prefix = [sys.executable] + (["-m", "cProfile", "-o", profile] if profile else [])
    if grid:  # Hydra's basic sweeper: one job per factor, the upweight factor left at null (= the factor)
        command = [*prefix, "-m", "imbexp", "-m", "strategy=downsample_upweight", f"dataset.rows={rows}",
                   f"model.estimator.n_estimators={trees}",
                   f"strategy.downsample_factor={','.join(map(_number, factors))}", *extra]
    else:
        command = [*prefix, "-m", "imbexp", "sweep=downsample_upweight", "hydra/sweeper/sampler=grid",
                   f"hydra.sweeper.n_trials={len(factors) * len(weights)}", f"dataset.rows={rows}",
                   f"model.estimator.n_estimators={trees}",
                   f"strategy.downsample_factor=choice({', '.join(map(str, factors))})",
                   f"strategy.upweight_factor=choice({', '.join(map(str, weights))})", *extra]
    started, start = time.time(), time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=home)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"the sweep failed:\n{result.stderr[-3000:]}")
    return elapsed, started, time.time()


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def sweep_breakdown(home: str) -> tuple[list[dict], list[dict]]:
    """Per child run: its stages, wall time, start and end (epoch seconds); the trials, then the
    baseline runs the end of a grid added."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{home}/runs/mlflow.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, max_results=1000)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    trials, baselines = [], []
    for run in sorted(children, key=lambda r: r.info.start_time):
        stages = {k.removeprefix("seconds_"): v for k, v in run.data.metrics.items() if k.startswith("seconds_")}
        stages.setdefault("fit", run.data.metrics.get("fit_seconds", 0.0))  # the fits' stage has its own name
        wall = (run.info.end_time - run.info.start_time) / 1000
        timing = {"wall": wall, "start": run.info.start_time / 1000, "end": run.info.end_time / 1000,
                  **stages, "sweeper": wall - sum(stages.values())}
        if run.data.tags.get("imbexp.baseline") == "true":
            baselines.append(timing)
            continue
        factor = float(run.data.params["strategy.downsample_factor"])
        weight = run.data.params["strategy.upweight_factor"]
        trials.append({**timing, "factor": factor, "weight": factor if weight == "null" else float(weight),
                       "valid_pr_auc": run.data.metrics["valid_pr_auc"]})
    return trials, baselines


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--factors", default=None, help="default 1,3,10,30,100; with --grid 1,2,5,10,20,50")
    parser.add_argument("--weights", default="1,10", help="not with --grid (the weight is the factor)")
    parser.add_argument("--grid", action="store_true", help="time python -m imbexp -m (Hydra's basic sweeper)")
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="LightGBM threads")
    parser.add_argument("--profile", help="write a cProfile of the sweep process here")
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)  # the loop's own process
    parser.add_argument("overrides", nargs="*", help="more overrides for the sweep's command line")
    args = parser.parse_args()
    args.factors = args.factors or ("1,2,5,10,20,50" if args.grid else "1,3,10,30,100")
    factors = [float(f) for f in args.factors.split(",")]
    if args.grid:
        pairs = [(factor, factor) for factor in factors]
    else:
        weights = [float(w) for w in args.weights.split(",")]
        pairs = list(itertools.product(factors, weights))
    if args.plain:
        print(json.dumps(plain_loop(args.rows, pairs, args.trees, args.threads)))
        return

    what = (f"{len(pairs)} grid jobs (python -m imbexp -m, downsample factor {args.factors}, upweight factor = "
            f"downsample factor)" if args.grid else
            f"{len(pairs)} trials (downsample factor {args.factors} x upweight factor {args.weights})")
    print(f"{what}, synthetic "
          f"{args.rows:,} rows, LightGBM {args.trees} trees x {args.threads} thread(s), {os.cpu_count()} cores"
          f"{'; sweep overrides ' + ' '.join(args.overrides) if args.overrides else ''}; {load()}", flush=True)

    def run_plain(when: str) -> tuple[float, dict]:
        start = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--plain", f"--rows={args.rows}", f"--factors={args.factors}",
                              f"--weights={args.weights}", f"--trees={args.trees}", f"--threads={args.threads}",
                              *(["--grid"] if args.grid else [])],
                             capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
        result = json.loads(out.stdout)
        print(f"plain loop, {when}: {wall:.1f} s (imports {result['imports']:.1f} s, data {result['data']:.1f} s); "
              f"{load()}", flush=True)
        return wall, result

    before_wall, before = run_plain("before the sweep")

    with tempfile.TemporaryDirectory(prefix="imbexp-bench-") as home:
        created = make_database(home)
        print(f"fresh MLflow database (once per home, not timed below): {created:.1f} s", flush=True)
        sweep_wall, started, ended = sweep(home, args.rows, factors, [] if args.grid else weights, args.trees,
                                           args.threads, args.profile, args.overrides, grid=args.grid)
        print(f"python -m imbexp {'-m' if args.grid else 'sweep'}: {sweep_wall:.1f} s; {load()}", flush=True)
        trials, baselines = sweep_breakdown(home)
    after_wall, after = run_plain("after the sweep")
    plain_wall = (before_wall + after_wall) / 2
    plain = {"trials": before["trials"] + after["trials"]}  # per-trial means over both runs

    n = len(pairs)
    stages = ["config", "data", "resample", "fit", "predict", "metrics", "plots", "tracking", "sweeper"]
    print(f"\nper trial, mean of {n} (s)      " + " ".join(f"{s:>9}" for s in stages) + f" {'total':>9}")
    mean = {s: sum(t.get(s, 0.0) for t in trials) / n for s in stages}
    print("imbexp sweep                  " + " ".join(f"{mean[s]:9.3f}" for s in stages)
          + f" {sum(t['wall'] for t in trials) / n:9.3f}")
    pmean = {s: sum(t.get(s, 0.0) for t in plain["trials"]) / (2 * n) for s in stages}
    print("plain loop (mean of 2 runs)   " + " ".join(f"{pmean[s]:9.3f}" for s in stages)
          + f" {sum(sum(t[s] for s in PLAIN_STAGES) for t in plain['trials']) / (2 * n):9.3f}")
    trial_total = sum(t["wall"] for t in trials)
    first, last = min(t["start"] for t in trials), max(t["end"] for t in trials)
    added = sum(t["wall"] for t in baselines)
    print(f"\nsweep outside its trials: {sweep_wall - trial_total:.1f} s = before the first trial (start-up, "
          f"imports, study, parent run) {first - started:.1f} s + between trials (ask/tell, child runs) "
          f"{last - first - trial_total:.1f} s + after the last (summary, report, exit) {ended - last:.1f} s"
          + (f", of which {len(baselines)} baseline run(s) added {added:.1f} s" if baselines else ""))
    plain_trials = sum(sum(t[s] for s in PLAIN_STAGES) for t in plain["trials"]) / 2
    print(f"plain loop outside its trials (imports, data): {plain_wall - plain_trials:.1f} s")
    agree = max(abs(a["valid_pr_auc"] - b["valid_pr_auc"]) for a, b in
                zip(sorted(trials, key=lambda t: (t["factor"], t["weight"])),
                    sorted(before["trials"], key=lambda t: (t["factor"], t["weight"])), strict=True))
    print(f"largest valid PR-AUC difference between the two, same factors: {agree:.2e}")
    print(f"\nratio sweep / plain loop = {sweep_wall:.1f} / {plain_wall:.1f} (mean of {before_wall:.1f} and "
          f"{after_wall:.1f}) = {sweep_wall / plain_wall:.3f}")
    if baselines:
        print(f"without the added baseline run: ({sweep_wall:.1f} - {added:.1f}) / {plain_wall:.1f} = "
              f"{(sweep_wall - added) / plain_wall:.3f}")
    if args.profile:
        print(f"profile: {Path(args.profile).resolve()} (python -m pstats)")


if __name__ == "__main__":
    main()
