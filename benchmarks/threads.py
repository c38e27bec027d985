"""The thread policy on a quiet and on a busy machine: a default run's fit time with the threads
imbexp chooses (the idle cores), with one thread, and with every core (the old default).

    python benchmarks/threads.py [--repeats 2] [--rows 20000]

"Busy": all cores but one are kept busy by spinning processes of this script, started before
the runs and stopped after. Each run is ``python -m imbexp`` with the defaults (synthetic data,
strategy none, LightGBM) and ``dataset.rows`` rows, without model, plots or intervals; its fit
time is the run's ``fit_seconds`` (printed on its console). Targets (issue: busy machines):
busy, chosen <= 1.3x one thread; quiet, chosen no slower than every core.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

FIT = re.compile(r"trained on [\d,]+ rows .* in ([\d.]+) s")


def fit_seconds(threads: str | None, rows: int, home: str) -> tuple[float, str]:
    env = {**os.environ, "IMBEXP_HOME": home}
    env.pop("IMBEXP_THREADS", None)
    if threads is not None:
        env["IMBEXP_THREADS"] = threads
    done = subprocess.run([sys.executable, "-m", "imbexp", f"dataset.rows={rows}", "tracking.log_model=false",
                           "tracking.plots=false", "metrics.bootstrap=0", "tracking.experiment=threads"],
                          env=env, cwd=home, capture_output=True, text=True, check=True)
    found = FIT.search(done.stdout)
    if found is None:
        raise RuntimeError(f"no fit time in the run's output:\n{done.stdout[-2000:]}")
    said = next((line for line in (done.stdout + done.stderr).splitlines() if "[threads]" in line), "")
    return float(found.group(1)), said.split("[threads]", 1)[-1].strip()[:60]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(label: str, rows: int, repeats: int, home: str) -> dict[str, float]:
    every = str(os.cpu_count() or 1)
    medians = {}
    for name, threads in (("chosen", None), ("1 thread", "1"), (f"every core ({every})", every)):
        times, said = [], ""
        for _ in range(repeats):
            seconds, said = fit_seconds(threads, rows, home)
            times.append(seconds)
        medians[name] = statistics.median(times)
        print(f"  {label:<6} {name:<18} fit {', '.join(f'{t:.2f}' for t in times)} s"
              f"{'   [threads] ' + said if said else ''}   (load {load()})", flush=True)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"threads: {cores} cores, {args.rows:,} rows, {args.repeats} runs each (load {load()})", flush=True)
    with tempfile.TemporaryDirectory(prefix="imbexp-threads-") as home:
        fit_seconds("1", 2000, home)  # creates the MLflow database outside the timings
        quiet = measure("quiet", args.rows, args.repeats, home)
        spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(1, cores - 1))]
        try:
            time.sleep(1.0)
            busy = measure("busy", args.rows, args.repeats, home)
        finally:
            for spinner in spinners:
                spinner.kill()
    every = next(k for k in quiet if k.startswith("every"))
    print(f"busy:  chosen / 1 thread = {busy['chosen'] / busy['1 thread']:.2f} (target <= 1.3); "
          f"every core / 1 thread = {busy[every] / busy['1 thread']:.2f}")
    print(f"quiet: chosen / every core = {quiet['chosen'] / quiet[every]:.2f} (target <= 1.0, within noise)")


if __name__ == "__main__":
    main()
