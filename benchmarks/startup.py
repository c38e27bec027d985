"""Start-up: wall time of ``python -m imbexp --help`` and of the smallest run, and what they import.

    python benchmarks/startup.py [--repeats 3]

Each command runs ``--repeats`` times in a fresh process (median and fastest printed), in a
temporary IMBEXP_HOME whose MLflow database is created beforehand. The smallest run is
``dataset=breast_cancer`` (569 rows) with the defaults otherwise (a single run: its model and four
plots logged), then without the model (the targets' smallest run: at most 2 s), then without
model, plots and bootstrap intervals (as in a sweep's trial), and the synthetic data at 2,000
rows without the model. The heaviest imports of each (``python -X importtime``) are listed, so
a slow start has a name.

Beside the wall time, the CPU time of the process (user + system, the fastest of the repeats):
the commands are single-threaded, so on a quiet machine their wall time is about their CPU
time, and on a machine other processes keep busy the CPU time still measures the command.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {  # what each one is, for the reader
    "--help": ["--help"],
    "smallest run": ["dataset=breast_cancer"],
    "smallest run, no model": ["dataset=breast_cancer", "tracking.log_model=false"],
    "smallest run, no model, plots or intervals": ["dataset=breast_cancer", "tracking.log_model=false",
                                                   "tracking.plots=false", "metrics.bootstrap=0"],
    "2,000 synthetic rows, no model": ["dataset.rows=2000", "tracking.log_model=false"],
}
#: top-level packages worth naming in the import listing
HEAVY = ("mlflow", "sklearn", "lightgbm", "pandas", "pyarrow", "matplotlib", "optuna", "hydra", "omegaconf",
         "scipy", "imblearn", "numpy", "sqlalchemy")


def timed(args: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of the command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "imbexp", *args], env=env, cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_imports(args: list[str], env: dict[str, str], cwd: str) -> list[tuple[str, float]]:
    """Cumulative import time of each heavy top-level package the command imports."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "imbexp", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, check=True)
    seen: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        name = name.strip()
        if name in HEAVY and cumulative.strip().isdigit():
            seen[name] = max(seen.get(name, 0.0), int(cumulative) / 1e6)
    return sorted(seen.items(), key=lambda item: -item[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imbexp-startup-") as home:
        env = {**os.environ, "IMBEXP_HOME": home}
        created = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import mlflow; mlflow.set_tracking_uri("
                        f"'sqlite:///{home}/runs/mlflow.db'); mlflow.search_experiments()"],
                       env=env, check=True, capture_output=True)
        print(f"fresh MLflow database (once per home): {time.perf_counter() - created:.1f} s", flush=True)
        for command in COMMANDS.values():
            load = os.getloadavg()[0]
            measured = [timed(command, env, home) for _ in range(args.repeats)]
            times, cpu = [wall for wall, _ in measured], [used for _, used in measured]
            imports = heavy_imports(command, env, home)
            print(f"python -m imbexp {' '.join(command):<62} median {statistics.median(times):5.2f} s, "
                  f"fastest {min(times):5.2f} s, CPU {min(cpu):5.2f} s  (load {load:.2f} -> "
                  f"{os.getloadavg()[0]:.2f})", flush=True)
            print("    imports: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in imports[:8]), flush=True)


if __name__ == "__main__":
    main()
