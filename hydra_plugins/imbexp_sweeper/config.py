"""``hydra/sweeper: imbexp_optuna`` and its samplers, with the official Optuna sweeper's keys.

Differences from the official plugin, all documented in the README: ``n_trials`` counts the
study's COMPLETE trials (so a resumed study stops at the same total), ``n_jobs`` runs trials
in parallel processes, ``storage: null`` means ``sqlite:///<project root>/runs/optuna.db``,
``direction: null`` follows ``objective.direction``, ``range(a, b)`` stops before ``b`` as in
the rest of Hydra's grammar, and ``conditional_params`` adds keys searched only when another
parameter takes a value.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

TARGET = "hydra_plugins.imbexp_sweeper.imbexp_optuna_sweeper.ImbexpOptunaSweeper"


@dataclass
class SamplerConfig:
    _target_: str = "optuna.samplers.TPESampler"
    seed: int | None = None


@dataclass
class TPESamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.TPESampler"
    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    multivariate: bool = False
    group: bool = False
    constant_liar: bool = True  # parallel workers do not all probe the same promising point


@dataclass
class RandomSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.RandomSampler"


@dataclass
class GridSamplerConfig(SamplerConfig):
    """The grid is the search space of ``params`` (choice and range values)."""

    _target_: str = "optuna.samplers.GridSampler"


@dataclass
class CmaEsSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.CmaEsSampler"
    x0: dict[str, Any] | None = None
    sigma0: float | None = None
    n_startup_trials: int = 1
    warn_independent_sampling: bool = True
    consider_pruned_trials: bool = False
    restart_strategy: str | None = None
    popsize: int | None = None
    inc_popsize: int = -1
    use_separable_cma: bool = False


@dataclass
class NSGAIISamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.NSGAIISampler"
    population_size: int = 50
    mutation_prob: float | None = None
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5


@dataclass
class QMCSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.QMCSampler"
    qmc_type: str = "sobol"
    scramble: bool = False
    warn_independent_sampling: bool = True


@dataclass
class ImbexpOptunaSweeperConf:
    _target_: str = TARGET
    # the sweeper builds the sampler itself: the grid needs the search space, workers a seed each
    _recursive_: bool = False
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}])

    sampler: Any = MISSING  # filled by hydra/sweeper/sampler (tpe unless overridden)
    direction: Any = None  # null: objective.direction; or maximize / minimize / a list of them
    storage: Any = None  # null: sqlite:///<project root>/runs/optuna.db
    study_name: str | None = None  # null: <dataset>-<strategy>-<model>-<sweep preset>
    n_trials: int = 20  # the study's total of COMPLETE trials
    n_jobs: int = 1  # trials at once, each in its own process; -1: one per core
    max_failure_rate: float = 0.5  # stop once failures exceed this x n_trials
    params: dict[str, Any] | None = None
    custom_search_space: str | None = None  # module.function(cfg, trial) adding trial.suggest_*
    conditional_params: dict[str, Any] | None = None  # {"param=value": {key: expression}}
    heartbeat_interval: int | None = 30  # seconds; a trial silent for 2x this is failed and retried
    max_retry: int = 3  # retries of a trial whose worker died


ConfigStore.instance().store(group="hydra/sweeper", name="imbexp_optuna", node=ImbexpOptunaSweeperConf,
                             provider="imbexp")
for _name, _node in {"tpe": TPESamplerConfig, "random": RandomSamplerConfig, "grid": GridSamplerConfig,
                     "cmaes": CmaEsSamplerConfig, "nsgaii": NSGAIISamplerConfig, "qmc": QMCSamplerConfig}.items():
    ConfigStore.instance().store(group="hydra/sweeper/sampler", name=_name, node=_node, provider="imbexp")
