"""``hydra.sweeper.*`` of ``imbexp_optuna``: one dataclass, the schema Hydra's ConfigStore holds
(``hydra_plugins/imbexp_sweeper/config.py`` adds only Hydra's ``_target_`` and defaults) and the
values the sweep validates.

The keys are the official Optuna sweeper's (1.3 and 1.4), so a sweep config written for it runs
here with only the sweeper's name changed; the differences in meaning are in docs/sweeping.md:
``n_trials`` counts the study's COMPLETE trials (a resumed study stops at the same total),
``n_jobs`` runs trials in parallel processes, ``storage: null`` means
``sqlite:///<runs home>/runs/optuna.db``, ``direction: null`` follows ``objective.direction``,
and ``interval(a, b)`` is a float range even for whole-number bounds. imbexp's own keys come
after ``custom_search_space``.
"""

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from imbexp.constraints import Interval, Options, Worded, check
from imbexp.errors import ConfigError

#: ``n_jobs`` at most this many processes per core: each is a whole Python with the data and a
#: model in memory, and more than a few per core only queue for the same cores (``n_jobs=1000``
#: once started 38 processes before the host refused more)
JOBS_PER_CORE = 4


def max_jobs() -> int:
    """The largest ``n_jobs`` this host accepts."""
    return JOBS_PER_CORE * (os.cpu_count() or 1)


@dataclasses.dataclass
class SweepSettings:
    """The sweeper's settings, checked by :meth:`validate` before anything runs."""

    # a hydra/sweeper/sampler config (tpe unless overridden), a name, or {_target_: ...}
    sampler: Any = "tpe"
    direction: Any = None  # null: objective.direction; or maximize / minimize / a list of them
    storage: Any = None  # null: sqlite:///<runs home>/runs/optuna.db
    study_name: str | None = None  # null: <dataset>-<strategy>-<model>-<sweep preset>
    n_trials: int = 20  # the study's total of COMPLETE trials
    n_jobs: int = 1  # trials at once, each in its own process; -1: one per core
    max_failure_rate: float = 0.5  # stop once this command's failures exceed this x n_trials
    params: dict[str, Any] | None = None
    custom_search_space: str | None = None  # module.function(cfg, trial) adding trial.suggest_*
    # -- imbexp's own keys
    conditional_params: dict[str, Any] | None = None  # {"param=value": {key: expression}}
    heartbeat_interval: int | None = 30  # seconds; a trial silent for 2x this is failed and retried
    max_retry: int = 3  # retries of a trial whose worker died
    # the official plugin's pre-1.2 search-space key, removed in its 1.4; refused with a pointer
    # to params rather than as an unknown key, so a user porting an old config learns the fix
    search_space: Any = None
    # -- pruning (imbexp.sweeping._pruning): a hydra/sweeper/pruner config (none unless overridden),
    # a name (median, percentile, successive_halving, hyperband, wilcoxon) or {name: ..., setting: ...}
    pruner: Any = None
    # -- one study, one experiment: constraints, budget and warm start, output (docs/sweeping.md)
    constraints: list[str] | None = None  # ["valid_ece <= 0.01"]: the best trial is the best feasible one
    timeout: float | None = None  # seconds: no trial starts after this; the running ones finish
    target: float | None = None  # stop once the best (feasible) objective value reaches this
    baseline: bool = True  # the study's first trial is the baseline (strategy=none, factors 1), once per study
    deduplicate: bool = True  # a configuration drawn again is not run: its stored value is returned
    verbose: bool = False  # false: one line per trial; true: each trial's full output too

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> "SweepSettings":
        """The settings from ``hydra.sweeper`` (Hydra's own keys such as ``_target_`` dropped),
        validated."""
        if isinstance(values, DictConfig):
            values = OmegaConf.to_container(values, resolve=True)
        known = {f.name for f in dataclasses.fields(SweepSettings)}
        settings = cls(**{k: v for k, v in values.items() if k in known})
        settings.validate()
        return settings

    def validate(self) -> None:
        def whole(key: str, value: Any, low: int) -> None:
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"hydra.sweeper.{key}={value!r} is not allowed; use an integer >= {low}.")

        if self.search_space is not None:
            raise ConfigError("hydra.sweeper.search_space is the official Optuna sweeper's old key (removed in "
                              "its 1.4) and is not read; use hydra.sweeper.params with the override grammar, "
                              "e.g. strategy.downsample_factor: tag(log, interval(1, 100)).")
        whole("n_trials", self.n_trials, 1)
        cores = os.cpu_count() or 1
        check("hydra.sweeper.n_jobs", self.n_jobs, [
            Worded(Interval(int, 1, max_jobs()), f"use an integer from 1 to {max_jobs()} ({JOBS_PER_CORE} x this "
                                                 f"host's {cores} core(s))"),
            Worded(Options(-1), "-1 (one per core)")])
        whole("max_retry", self.max_retry, 0)
        if self.heartbeat_interval is not None:
            whole("heartbeat_interval", self.heartbeat_interval, 1)
        from imbexp.sweeping._pruning import pruner_name

        pruner_name(self.pruner)  # its settings are checked when the plan builds it
        rate = self.max_failure_rate
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise ConfigError(f"hydra.sweeper.max_failure_rate={rate!r} is not allowed; use a number from 0 to 1.")
        self._validate_experiment_keys()

    def _validate_experiment_keys(self) -> None:
        from imbexp.sweeping._constraints import parse_constraints

        parse_constraints(self.constraints)
        for key in ("timeout", "target"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)
                                      or not math.isfinite(value)):
                raise ConfigError(f"hydra.sweeper.{key}={value!r} is not allowed; use a number, or null for none.")
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError(f"hydra.sweeper.timeout={self.timeout!r} is not allowed; use a number of seconds > 0, "
                              "or null for no limit.")
        for key in ("baseline", "deduplicate", "verbose"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"hydra.sweeper.{key}={getattr(self, key)!r} is not allowed; use true or false.")

    @property
    def processes(self) -> int:
        """Processes running trials at once (``n_jobs``, with -1 as one per core)."""
        return (os.cpu_count() or 1) if self.n_jobs == -1 else self.n_jobs
