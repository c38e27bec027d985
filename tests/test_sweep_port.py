"""A sweep config written for the official Optuna sweeper (hydra-optuna-sweeper 1.4.0rc3) runs under
``imbexp_optuna`` with only the sweeper's name changed."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from imbexp.names import DIRECTIONS_TAG, SAMPLER_TAG, STUDY_PARENT_RUN_ATTR

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Every key of the official plugin's OptunaSweeperConf, and every field of its TPESamplerConfig,
# in its own grammar: interval, range, choice, tag(log, ...), a fixed value, custom_search_space.
#: what both configs below share besides the sweeper: small data, few trees, a multirun
SMALL_MULTIRUN = """\
dataset:
  rows: 1500
model:
  estimator:
    n_estimators: 10

hydra:
  mode: MULTIRUN
"""

OFFICIAL = """\
# @package _global_
defaults:
  - override /hydra/sweeper: optuna

""" + SMALL_MULTIRUN + """\
  sweeper:
    sampler:
      _target_: optuna.samplers.TPESampler
      seed: 123
      consider_prior: null
      prior_weight: null
      consider_magic_clip: null
      consider_endpoints: null
      n_startup_trials: 10
      n_ei_candidates: 24
      multivariate: false
      group: false
      warn_independent_sampling: null
      constant_liar: false
      constraints_func: null
    direction: maximize
    storage: sqlite:///${oc.env:IMBEXP_HOME}/ported.db
    study_name: ported
    n_trials: 3
    n_jobs: 1
    max_failure_rate: 0.0
    params:
      strategy: downsample_upweight
      strategy.downsample_factor: tag(log, interval(1.0, 20.0))
      strategy.upweight_factor: choice(1.0, 2.0)
      model.estimator.num_leaves: range(8, 33, 8)
      objective.metric: pr_auc
    custom_search_space: test_sweep_port.extra_space
"""


def extra_space(cfg, trial) -> None:
    """A ``custom_search_space`` in the official plugin's signature."""
    trial.suggest_categorical("model.estimator.learning_rate", [0.05, 0.1])


def _write(folder: Path, text: str) -> Path:
    (folder / "sweep").mkdir(parents=True, exist_ok=True)
    (folder / "sweep" / "ported.yaml").write_text(text)
    return folder


def _sweep(run_cli, folder: Path, monkeypatch, *args: str) -> subprocess.CompletedProcess:
    # where the sweep imports extra_space from
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                                   os.environ.get("PYTHONPATH")])))
    # --config-dir adds the folder with sweep/ported.yaml to the config search path
    return run_cli("-m", f"--config-dir={folder}", "sweep=ported", *args)


@pytest.mark.smoke
def test_an_official_sweep_config_runs_with_only_the_sweepers_name_changed(run_cli, imbexp_home, mlflow_client,
                                                                             tmp_path, monkeypatch) -> None:
    ported = OFFICIAL.replace("override /hydra/sweeper: optuna", "override /hydra/sweeper: imbexp_optuna")
    assert [line for line in ported.splitlines() if line not in OFFICIAL.splitlines()] == [
        "  - override /hydra/sweeper: imbexp_optuna"]
    result = _sweep(run_cli, _write(tmp_path / "conf", ported), monkeypatch)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    study = optuna.load_study(study_name="ported", storage=f"sqlite:///{imbexp_home}/ported.db")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 3 and study.direction == optuna.study.StudyDirection.MAXIMIZE
    for trial in complete:
        assert 1.0 <= trial.params["strategy.downsample_factor"] <= 20.0
        assert trial.params["strategy.upweight_factor"] in (1.0, 2.0)
        assert trial.params["model.estimator.num_leaves"] in (8, 16, 24, 32)
        assert trial.params["model.estimator.learning_rate"] in (0.05, 0.1)
    parent = mlflow_client.get_run(study.user_attrs[STUDY_PARENT_RUN_ATTR])
    assert parent.data.tags[SAMPLER_TAG] == "tpe" and parent.data.tags[DIRECTIONS_TAG] == "maximize"


@pytest.mark.smoke
@pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None,
                    reason="the official hydra-optuna-sweeper is not installed (it needs hydra-core 1.4)")
def test_the_same_config_runs_under_the_official_plugin_beside_imbexps(run_cli, imbexp_home, tmp_path,
                                                                        monkeypatch) -> None:
    """Both plugins installed together: no ConfigStore collision, and the official one still runs."""
    result = _sweep(run_cli, _write(tmp_path / "conf", OFFICIAL), monkeypatch, "hydra.sweeper.study_name=official")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "already registered" not in result.stderr
    study = optuna.load_study(study_name="official", storage=f"sqlite:///{imbexp_home}/ported.db")
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3


# The other way the official plugin's documentation picks a sampler: by config group.
OFFICIAL_BY_GROUP = """\
# @package _global_
defaults:
  - override /hydra/sweeper: optuna
  - override /hydra/sweeper/sampler: random

""" + SMALL_MULTIRUN + """\
  sweeper:
    sampler:
      seed: 7
    direction: maximize
    storage: sqlite:///${oc.env:IMBEXP_HOME}/ported.db
    study_name: ported-by-group
    n_trials: 2
    params:
      strategy: downsample_upweight
      strategy.downsample_factor: range(1, 10)
"""


@pytest.mark.smoke
def test_a_sampler_chosen_by_the_official_group_ports_too(run_cli, imbexp_home, mlflow_client, tmp_path,
                                                           monkeypatch) -> None:
    ported = OFFICIAL_BY_GROUP.replace("override /hydra/sweeper: optuna", "override /hydra/sweeper: imbexp_optuna")
    result = _sweep(run_cli, _write(tmp_path / "conf", ported), monkeypatch)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    study = optuna.load_study(study_name="ported-by-group", storage=f"sqlite:///{imbexp_home}/ported.db")
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 2
    parent = mlflow_client.get_run(study.user_attrs[STUDY_PARENT_RUN_ATTR])
    assert parent.data.tags[SAMPLER_TAG] == "random"
