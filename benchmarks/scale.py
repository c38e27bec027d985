"""Wall time and peak memory of one run on a 10M-row (or 100M-row) Parquet file, read in
batches or whole, against one full pass of reading and predicting the file.

    python benchmarks/scale.py [--rows 10000000] [--factor 100] [--file runs/bench/scale_10M.parquet]
        [--cases true,false] [--no-pass] [--extra KEY=VALUE ...]
    python benchmarks/scale.py --rows 100000000 --cases true --file /tmp/x/scale_100M.parquet

The file (20 float32 features, 0.5 % positives, ~87 bytes a row: 0.85 GiB for 10M, 8.5 GiB for
100M) is generated once, batch by batch with pyarrow in a process of its own (whose peak RSS is
printed: it stays that of one batch whatever the rows), and reused. Each case is the real command
line in a fresh process:

    python -m imbexp dataset=file dataset.path=FILE dataset.target=label
        strategy=downsample_upweight strategy.downsample_factor=100 dataset.read_in_batches=true|false

measured by a small wrapper process that waits for it and reads its peak resident memory
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``). Runs are tracked in a temporary IMBEXP_HOME whose
MLflow database is created beforehand.

"One pass" is the floor a run read in batches is judged against: a fresh process fits the run's
model (``model=lightgbm``, its defaults) on the kept training rows the run would use, then reads
every batch of the file and predicts it (``ParquetFile.iter_batches`` + ``predict_proba``); only
that pass is timed. Targets: read in batches, peak RSS <= 0.6 GB at 10M rows and <= 1.5 GB at
100M, and run wall <= 3x one pass.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def generate(path: Path, rows: int, positives: float, batch: int = 1_000_000) -> None:
    """Labels with a 0.5 % positive share; 8 of 20 features shifted for positives."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    shift = np.zeros(20, dtype=np.float32)
    shift[:8] = rng.uniform(0.5, 1.5, 8).astype(np.float32)
    schema = pa.schema([(f"x{i}", pa.float32()) for i in range(20)] + [("label", pa.int8())])
    tmp = path.with_suffix(".partial")
    with pq.ParquetWriter(tmp, schema) as writer:
        for start in range(0, rows, batch):
            n = min(batch, rows - start)
            y = (rng.random(n) < positives).astype(np.int8)
            X = rng.standard_normal((n, 20), dtype=np.float32) + y[:, None] * shift
            columns = [pa.array(X[:, i]) for i in range(20)] + [pa.array(y)]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
    tmp.rename(path)


def one_pass(path: Path, factor: float, batch_rows: int) -> dict:
    """Fit the run's model on the run's kept rows, then time reading every batch and predicting it."""
    import numpy as np
    import pyarrow.parquet as pq
    from hydra import compose, initialize_config_dir

    from imbexp import models
    from imbexp._compat import VERSION_BASE
    from imbexp._paths import config_dir
    from imbexp.datasets import load_dataset, read_rows, source_of
    from imbexp.run import _rows_used, build_strategy
    from imbexp.splits import make_split

    with initialize_config_dir(str(config_dir()), **VERSION_BASE):
        cfg = compose("config", overrides=["dataset=file", f"dataset.path={path}", "dataset.target=label",
                                           "strategy=downsample_upweight", f"strategy.downsample_factor={factor:g}",
                                           f"dataset.batch_rows={batch_rows}"])
    strategy, source = build_strategy(cfg.strategy), source_of(cfg.dataset)
    labels = load_dataset(cfg.dataset, labels_only=True)
    split = make_split(labels.y, cfg.split, 0)
    train = split.train_all
    selection = strategy.select_rows(labels.y[train], random_state=0)
    kept = train[selection.indices]
    dataset = read_rows(source, labels, _rows_used(split, strategy, labels, 0, evaluated=False))
    model = models.build_model(cfg.model, 0)
    models.fit(model, dataset.features(kept), labels.y[kept], selection.sample_weight)
    columns = list(dataset.X.columns)
    start, rows, total = time.perf_counter(), 0, 0.0
    with pq.ParquetFile(path, pre_buffer=False) as parquet:
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
            total += float(np.sum(models.predict_positive(model, batch.to_pandas())))
            rows += batch.num_rows
    return {"seconds": time.perf_counter() - start, "rows": rows, "mean_score": total / rows}


def measure(command: list[str], env: dict[str, str]) -> dict:
    """Run in a wrapper process of its own, so RUSAGE_CHILDREN holds this command's peak only."""
    wrapper = ("import json, resource, subprocess, sys, time\n"
               "start = time.perf_counter()\n"
               "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
               "wall = time.perf_counter() - start\n"
               "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
               "print(json.dumps({'wall': wall, 'peak_kib': peak, 'code': done.returncode, "
               "'out': done.stdout[-4000:], 'err': done.stderr[-4000:]}))\n")
    result = subprocess.run([sys.executable, "-c", wrapper, *command], env=env, capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--positives", type=float, default=0.005)
    parser.add_argument("--factor", type=float, default=100)
    parser.add_argument("--file", type=Path, default=REPO / "runs" / "bench" / "scale_10M.parquet")
    parser.add_argument("--cases", default="true,false", help="dataset.read_in_batches values to run")
    parser.add_argument("--batch-rows", type=int, default=250_000, help="dataset.batch_rows")
    parser.add_argument("--no-pass", action="store_true", help="skip the one-pass measurement")
    parser.add_argument("--extra", nargs="*", default=[], help="more overrides for the run, e.g. metrics.bootstrap=0")
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)  # the generator's own process
    parser.add_argument("--pass-only", action="store_true", help=argparse.SUPPRESS)  # the one pass's own process
    args = parser.parse_args()
    if args.file.name == "scale_10M.parquet" and args.rows != 10_000_000:
        args.file = args.file.with_name(f"scale_{args.rows // 1_000_000}M.parquet")
    if args.generate:
        generate(args.file, args.rows, args.positives)
        return
    if args.pass_only:
        print(json.dumps(one_pass(args.file, args.factor, args.batch_rows)))
        return

    if not args.file.is_file():
        # in a process of its own, so its peak RSS is the generator's alone
        made = measure([sys.executable, __file__, "--generate", "--rows", str(args.rows), "--positives",
                        str(args.positives), "--file", str(args.file)], dict(os.environ))
        if made["code"] != 0:
            sys.exit(f"generating {args.file} failed:\n{made['err']}")
        print(f"generated {args.file} in {made['wall']:.0f} s, peak RSS {made['peak_kib'] / 2**20:.2f} GiB", flush=True)
    print(f"{args.file}: {args.file.stat().st_size / 2**20:.0f} MiB on disk; downsample_upweight f={args.factor:g}; "
          f"{os.cpu_count()} cores", flush=True)

    with tempfile.TemporaryDirectory(prefix="imbexp-scale-") as home:
        env = {**os.environ, "IMBEXP_HOME": home}
        subprocess.run([sys.executable, "-c", "import mlflow; mlflow.set_tracking_uri("
                        f"'sqlite:///{home}/runs/mlflow.db'); mlflow.search_experiments()"],
                       env=env, check=True, capture_output=True)
        walls: dict[str, float] = {}
        for case in args.cases.split(","):
            command = [sys.executable, "-m", "imbexp", "dataset=file", f"dataset.path={args.file}",
                       "dataset.target=label", "strategy=downsample_upweight",
                       f"strategy.downsample_factor={args.factor:g}", f"dataset.read_in_batches={case}",
                       f"dataset.batch_rows={args.batch_rows}", "tracking.experiment=scale", *args.extra]
            load = os.getloadavg()[0]
            result = measure(command, env)
            if result["code"] != 0:
                print(f"read_in_batches={case}: failed (exit {result['code']})\n{result['err']}", flush=True)
                continue
            trained = re.search(r"trained on ([\d,]+) rows .* in ([\d.]+) s", result["out"])
            pr_auc = re.search(r"pr_auc\s+([\d.]+)\s+([\d.]+)", result["out"])
            print(f"read_in_batches={case:<5}  wall {result['wall']:6.1f} s  peak RSS "
                  f"{result['peak_kib'] / 2**20:5.2f} GiB  "
                  f"(trained on {trained[1] if trained else '?'} rows, fit {trained[2] if trained else '?'} s, "
                  f"valid/test PR-AUC {pr_auc[1] if pr_auc else '?'}/{pr_auc[2] if pr_auc else '?'}); "
                  f"load {load:.2f} -> {os.getloadavg()[0]:.2f}", flush=True)
            stages = _stages(home)
            if stages:
                print("    seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()), flush=True)
            walls[case] = result["wall"]

    if not args.no_pass:
        load = os.getloadavg()[0]
        passed = measure([sys.executable, __file__, "--pass-only", "--file", str(args.file), "--factor",
                          str(args.factor), "--batch-rows", str(args.batch_rows)], dict(os.environ))
        if passed["code"] != 0:
            sys.exit(f"one pass failed:\n{passed['err']}")
        figures = json.loads(passed["out"].strip().splitlines()[-1])
        ratios = ", ".join(f"read_in_batches={case}: {wall / figures['seconds']:.2f}x" for case, wall in walls.items())
        print(f"one pass (read {figures['rows']:,} rows in batches of {args.batch_rows:,} and predict them): "
              f"{figures['seconds']:.1f} s; run wall / one pass: {ratios or 'no run'} (target <= 3x); "
              f"load {load:.2f} -> {os.getloadavg()[0]:.2f}", flush=True)


def _stages(home: str) -> dict[str, float]:
    """The last run's ``seconds_<stage>`` metrics."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{home}/runs/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        return {}
    return {k.removeprefix("seconds_"): v for k, v in sorted(runs[0].data.metrics.items()) if k.startswith("seconds_")}


if __name__ == "__main__":
    main()
