"""Wall time and peak memory of one run on a 10M-row Parquet file, read in batches or whole.

    python benchmarks/scale.py [--rows 10000000] [--factor 100] [--file runs/bench/scale_10M.parquet]

The file (20 float32 features, 0.5 % positives, ~0.8 GB) is generated once, batch by batch with
pyarrow, and reused. Each case is the real command line in a fresh process:

    python -m imbexp dataset=file dataset.path=FILE dataset.target=label
        strategy=downsample_upweight strategy.downsample_factor=100 dataset.read_in_batches=true|false

measured by a small wrapper process that waits for it and reads its peak resident memory
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``). Runs are tracked in a temporary IMBEXP_HOME whose
MLflow database is created beforehand. Target: peak RSS <= 2 GB when read in batches.
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
    args = parser.parse_args()

    if not args.file.is_file():
        start = time.perf_counter()
        generate(args.file, args.rows, args.positives)
        print(f"generated {args.file} in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"{args.file}: {args.file.stat().st_size / 2**20:.0f} MiB on disk; downsample_upweight f={args.factor:g}; "
          f"{os.cpu_count()} cores", flush=True)

    with tempfile.TemporaryDirectory(prefix="imbexp-scale-") as home:
        env = {**os.environ, "IMBEXP_HOME": home}
        subprocess.run([sys.executable, "-c", "import mlflow; mlflow.set_tracking_uri("
                        f"'sqlite:///{home}/runs/mlflow.db'); mlflow.search_experiments()"],
                       env=env, check=True, capture_output=True)
        for case in args.cases.split(","):
            command = [sys.executable, "-m", "imbexp", "dataset=file", f"dataset.path={args.file}",
                       "dataset.target=label", "strategy=downsample_upweight",
                       f"strategy.downsample_factor={args.factor:g}", f"dataset.read_in_batches={case}",
                       "tracking.experiment=scale"]
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
