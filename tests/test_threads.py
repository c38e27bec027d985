"""The thread policy: IMBEXP_THREADS wins; otherwise a model gets the cores idle at start, so a
neighbour that keeps cores busy does not make a fit wait for them (benchmarks/threads.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from imbexp import threads


def test_imbexp_threads_wins_and_a_bad_value_is_one_sentence(monkeypatch) -> None:
    monkeypatch.setenv("IMBEXP_THREADS", "3")
    assert threads.threads() == 3
    monkeypatch.setenv("IMBEXP_THREADS", "0")
    with pytest.raises(Exception, match=r"IMBEXP_THREADS='0' is not allowed; use a whole number >= 1"):
        threads.threads()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core has nothing to leave out")
def test_cores_kept_busy_by_other_processes_are_left_out() -> None:
    cores = os.cpu_count() or 1
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(0.5)
        assert threads.idle_cores(window=0.5) < cores
    finally:
        for spinner in spinners:
            spinner.kill()


def test_a_run_says_when_it_uses_fewer_threads_than_cores(run_cli) -> None:
    """With every core kept busy the run uses fewer threads than cores, and says so in one line."""
    cores = os.cpu_count() or 1
    if cores < 2:
        pytest.skip("one core has nothing to leave out")
    env_threads = os.environ.pop("IMBEXP_THREADS", None)
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(0.5)
        done = run_cli("dataset.rows=2000", "tracking.log_model=false", "tracking.plots=false",
                       "metrics.bootstrap=0", "tracking.experiment=threads")
    finally:
        for spinner in spinners:
            spinner.kill()
        if env_threads is not None:
            os.environ["IMBEXP_THREADS"] = env_threads
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "[threads]" in line]
    assert len(lines) == 1 and f"of {cores} cores idle" in lines[0], done.stdout + done.stderr
