"""The wheel is a working imbexp, as ``pip install imbexp`` gives it: built from the checkout,
installed into a fresh virtual environment outside it and run from another folder, it finds its
configs and its sweeper plugin and writes ``runs/`` under the folder it runs in.

Slow (a minute or two with pip's cache: a build and a full install), so ``pytest -m "not slow"``
leaves it out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

import hydra
import pytest

REPO = Path(__file__).resolve().parents[1]
SMALL = ["dataset.rows=2000", "model.estimator.n_estimators=10"]

pytestmark = pytest.mark.slow


def _run(command: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _checkout_runs() -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in (REPO / "runs").rglob("*")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The venv's bin folder and an environment without the checkout or the tests' IMBEXP_HOME."""
    root = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("IMBEXP_HOME", "PYTHONPATH", "VIRTUAL_ENV")}
    started = time.monotonic()
    # sdist first, then the wheel from it: what an index would ship, and no stale build/ folder
    _run([sys.executable, "-m", "build", "--outdir", root / "dist", REPO], cwd=root, env=env)
    (wheel,) = (root / "dist").glob("imbexp-*.whl")
    built = time.monotonic()
    venv.create(root / "venv", with_pip=True)
    bin_dir = root / "venv" / ("Scripts" if os.name == "nt" else "bin")
    # the Hydra this suite runs on, so the plugin is looked for the way that version looks
    _run([bin_dir / "python", "-m", "pip", "install", "--quiet", wheel, f"hydra-core=={hydra.__version__}"],
         cwd=root, env=env)
    print(f"\nwheel built in {built - started:.0f} s, installed into a fresh venv in "
          f"{time.monotonic() - built:.0f} s")
    return bin_dir, env


def test_the_installed_wheel_runs_and_sweeps_from_another_folder(installed, tmp_path: Path) -> None:
    bin_dir, env = installed
    before = _checkout_runs()
    where = _run([bin_dir / "python", "-c", "import imbexp, imbexp._paths as p; print(imbexp.__file__); "
                  "print(p.config_dir()); print(p.runs_dir())"], cwd=tmp_path, env=env).split()
    venv_dir = bin_dir.parent
    assert Path(where[0]).is_relative_to(venv_dir) and Path(where[1]).is_relative_to(venv_dir), where
    assert (Path(where[1]) / "config.yaml").is_file() and Path(where[2]) == tmp_path.resolve() / "runs"

    job = _run([bin_dir / "imbexp", "--cfg", "job"], cwd=tmp_path, env=env)
    assert "strategy:" in job and "objective:" in job

    started = time.monotonic()
    _run([bin_dir / "imbexp", *SMALL, "tracking.log_model=false", "tracking.experiment=wheel-run"],
         cwd=tmp_path, env=env)
    ran = time.monotonic()
    out = _run([bin_dir / "imbexp", "sweep=downsample_upweight", "hydra.sweeper.n_trials=2",
                "tracking.experiment=wheel-sweep", *SMALL], cwd=tmp_path, env=env)
    print(f"run {ran - started:.0f} s, 2-trial sweep {time.monotonic() - ran:.0f} s")
    assert "best" in out

    runs = tmp_path / "runs"
    assert (runs / "mlflow.db").is_file() and (runs / "optuna.db").is_file()
    assert _checkout_runs() == before, "the installed package wrote into the checkout"

    # read back with the venv's own MLflow and Optuna (the suite's may be other versions)
    report = _run([bin_dir / "python", "-c", f"""
import json, mlflow, optuna
mlflow.set_tracking_uri("sqlite:///{runs.as_posix()}/mlflow.db")
found = {{}}
for name in ("wheel-run", "wheel-sweep"):
    frame = mlflow.search_runs(experiment_names=[name])
    found[name] = sorted(frame["status"])
(study,) = optuna.get_all_study_summaries("sqlite:///{runs.as_posix()}/optuna.db")
found["trials"] = [t.state.name for t in optuna.load_study(study_name=study.study_name,
                   storage="sqlite:///{runs.as_posix()}/optuna.db").trials]
print(json.dumps(found))
"""], cwd=tmp_path, env=env)
    found = json.loads(report.strip().splitlines()[-1])
    assert found["wheel-run"] == ["FINISHED"]
    assert found["wheel-sweep"] == ["FINISHED"] * 3  # the sweep's parent and its two trials
    assert found["trials"] == ["COMPLETE", "COMPLETE"]
