"""The Sweeper class Hydra instantiates for ``hydra/sweeper=imbexp_optuna``."""

from __future__ import annotations

import os
import sys
from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

from imbexp.errors import USAGE_ERROR, ConfigError, ImbexpError, exit_with
from imbexp.names import SWEEP_DIR_ENV

from .config import ImbexpOptunaSweeperConf  # noqa: F401  (registers the configs)


class ImbexpOptunaSweeper(Sweeper):
    """Hydra's entry point: :func:`imbexp.sweeping.make_plan` checks the config, then
    :class:`imbexp.sweeping.OptunaSweep` runs the plan."""

    def __init__(self, **settings: Any) -> None:
        # checked in sweep(), where a bad value is reported as one sentence like every other
        self.raw_settings = settings

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        if os.environ.get(SWEEP_DIR_ENV):  # a worker writes its trials' folders beside the leader's
            with open_dict(config):
                config.hydra.sweep.dir = os.environ[SWEEP_DIR_ENV]
        self.config = config
        from imbexp.sweeping._compose import TrialConfigLoader

        # the launcher composes each trial's config through this loader: once per config-group
        # choice instead of once per trial
        hydra_context = HydraContext(config_loader=TrialConfigLoader(hydra_context.config_loader),
                                     callbacks=hydra_context.callbacks)
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function)
        from imbexp.sweeping._experiment import mark_quiet
        from imbexp.sweeping._launchers import prepare_ray

        mark_quiet(self.raw_settings.get("verbose", False))  # before prepare_ray, which forwards it to Ray tasks
        prepare_ray(self.launcher)  # hydra/launcher=ray: what it needs to join a running cluster

    def sweep(self, arguments: list[str]) -> None:
        from optuna import TrialPruned

        from imbexp.sweeping import OptunaSweep, SweepSettings, format_value, make_plan
        from imbexp.sweeping._impl import worker_index

        loader = self.hydra_context.config_loader
        # a job's config is composed anew, so a worker names the leader's folder for each job
        shared_dir = os.environ.get(SWEEP_DIR_ENV)
        extra = [f"hydra.sweep.dir={format_value(shared_dir)}"] if shared_dir else []

        def launch(overrides: list[str], job_index: int) -> Any:
            overrides = [*overrides, *extra]
            [result] = self.launcher.launch([tuple(overrides)], initial_job_idx=job_index)
            if isinstance(getattr(result, "_return_value", None), TrialPruned):
                raise result._return_value  # a pruned trial is no error: not Hydra's "Error executing job"
            return result.return_value  # raises the job's error

        def compose(overrides: list[str]) -> DictConfig:
            return loader.load_sweep_config(self.config, overrides)

        def is_group(name: str) -> bool:
            return bool(loader.get_group_options(name.lstrip("+~")))

        argv = [sys.executable, *sys.orig_argv[1:]]
        try:
            plan = make_plan(SweepSettings.from_config(self.raw_settings), self.config, arguments, compose,
                             is_group, worker_index=worker_index())
            OptunaSweep(plan, launch, sweep_dir=str(self.config.hydra.sweep.dir), argv=argv).run()
        except ImbexpError as exc:
            # as a single run says it: one sentence, no hint about Hydra's stack traces; exit 2
            # for the user's config, 1 for a sweep that failed (too many failed trials)
            exit_with(exc, USAGE_ERROR if isinstance(exc, ConfigError) else 1)
