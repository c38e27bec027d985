"""Hydra launchers under the sweeper: what hydra-ray-launcher needs from the sweep to run its
trials on a Ray cluster the user already runs.

Each of the sweep's ``n_jobs`` processes hands one trial at a time to Hydra's launcher. The basic
launcher runs the job in that process, so the Optuna trial is there for the run to report to
(pruning). Other launchers run the job elsewhere: joblib in one of its loky worker processes
(kept for the next trial), Ray as a task on any node of the cluster, submitit as a SLURM job. The
study, the heartbeat and the MLflow child run stay with the sweep process in every case; only
the job moves, with the environment of wherever it lands.
"""

from __future__ import annotations

import os
from typing import Any

from omegaconf import open_dict, read_write

from imbexp import names
from imbexp._paths import project_root

#: hydra-ray-launcher's launcher for an existing cluster (``hydra/launcher=ray``)
RAY_LAUNCHER = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
#: the runs home; a Ray task gets the sweep's, or it would write runs/ where its node's Ray runs
HOME_ENV = "IMBEXP_HOME"


def prepare_ray(launcher: Any) -> None:
    """Fill in what hydra-ray-launcher (1.2.2) needs to run the sweep's trials on a running cluster,
    on the launcher Hydra built from ``hydra.launcher`` (its ``ray_cfg``); keys the user set are left
    as they are. The config itself stays as composed: Hydra 1.4 refuses a sweep whose
    ``hydra.launcher`` differs from the one each job's config is composed with.

    - ``ray.init.object_store_memory``: the launcher sets 75 MB unless given, and ``ray.init``
      refuses any value when it joins an existing cluster (``ray.init.address``); null it is.
    - ``ray.init.runtime_env.env_vars``: a Ray task has the environment of the node's raylet, not
      the sweep's. ``IMBEXP_HOME`` is the sweep's runs home, so a trial logs to the MLflow store
      the sweep created its child run in (the default ``sqlite:///<home>/runs/mlflow.db``);
      ``IMBEXP_THREADS`` is the CPUs a task reserves (``ray.remote.num_cpus``, Ray's default 1),
      so a model does not start a thread per core of a node it shares with other tasks;
      ``IMBEXP_QUIET_TRIALS``, when set (:func:`~imbexp.sweeping._experiment.mark_quiet`, called
      before this), so a task prints no summary of its own in a quiet sweep.
    """
    if f"{type(launcher).__module__}.{type(launcher).__qualname__}" != RAY_LAUNCHER:
        return
    ray = launcher.ray_cfg
    with read_write(ray), open_dict(ray):
        init = ray.init
        if init.get("address") and "object_store_memory" not in init:
            init.object_store_memory = None
        cpus = (ray.get("remote") or {}).get("num_cpus") or 1
        env = {HOME_ENV: project_root().as_posix(), names.THREADS_ENV: str(max(1, int(cpus)))}
        if os.environ.get(names.QUIET_TRIALS_ENV):
            env[names.QUIET_TRIALS_ENV] = os.environ[names.QUIET_TRIALS_ENV]
        if init.get("runtime_env") is None:
            init.runtime_env = {}
        if init.runtime_env.get("env_vars") is None:
            init.runtime_env.env_vars = {}
        for key, value in env.items():
            if key not in init.runtime_env.env_vars:
                init.runtime_env.env_vars[key] = value
