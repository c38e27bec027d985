"""``hydra/sweeper: imbexp_optuna`` and its samplers in Hydra's ConfigStore.

The settings are :class:`imbexp.sweeping.SweepSettings` (one dataclass for the schema and the
validation); this module adds what only Hydra reads. The samplers take the official Optuna
sweeper's fields (1.4.0rc3) and live in the official plugin's group, ``hydra/sweeper/sampler``, so
that a sweep config written for it (``override hydra/sweeper/sampler: tpe``) runs under
imbexp_optuna with only the sweeper's name changed: ``hydra/sweeper/sampler=random`` selects one,
``hydra.sweeper.sampler.seed=1`` sets a field. Two plugins registering the same config names
collide (Hydra 1.4 warns, 1.5 raises), so when the official plugin is installed imbexp leaves the
group to it: its configs carry the same fields and targets, which the sweeper reads as its own
(:mod:`imbexp.sweeping._samplers`).
"""

import importlib.util
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from imbexp.sweeping._settings import SweepSettings

TARGET = "hydra_plugins.imbexp_sweeper.imbexp_optuna_sweeper.ImbexpOptunaSweeper"
SAMPLER_GROUP = "hydra/sweeper/sampler"
#: the official plugin, whose sampler configs serve both sweepers when it is installed
OFFICIAL_PLUGIN = "hydra_plugins.hydra_optuna_sweeper"


@dataclass
class SamplerConfig:
    _target_: str = "optuna.samplers.TPESampler"
    seed: int | None = None  # null: the top-level seed (so a fresh study of the same command draws the same trials)


@dataclass
class TPESamplerConfig(SamplerConfig):
    """A field left null takes Optuna's own default, as in the official plugin."""

    _target_: str = "optuna.samplers.TPESampler"
    consider_prior: bool | None = None
    prior_weight: float | None = None
    consider_magic_clip: bool | None = None
    consider_endpoints: bool | None = None
    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    multivariate: bool = False
    group: bool = False
    warn_independent_sampling: bool | None = None
    constant_liar: bool = True  # parallel workers do not all probe the same promising point
    constraints_func: Any | None = None


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
    independent_sampler: Any | None = None
    warn_independent_sampling: bool = True
    consider_pruned_trials: bool = False
    restart_strategy: str | None = None
    popsize: int | None = None
    inc_popsize: int = -1
    use_separable_cma: bool = False
    with_margin: bool = False
    lr_adapt: bool = False
    source_trials: Any | None = None


@dataclass
class NSGAIISamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.NSGAIISampler"
    population_size: int = 50
    mutation_prob: float | None = None
    mutation: Any | None = None
    crossover: Any | None = None
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5
    constraints_func: Any | None = None


@dataclass
class NSGAIIISamplerConfig(NSGAIISamplerConfig):
    _target_: str = "optuna.samplers.NSGAIIISampler"
    reference_points: list[list[float]] | None = None
    dividing_parameter: int = 3


@dataclass
class GPSamplerConfig(SamplerConfig):
    """Optuna's Gaussian-process sampler; it needs PyTorch (``pip install torch``)."""

    _target_: str = "optuna.samplers.GPSampler"
    independent_sampler: Any | None = None
    n_startup_trials: int = 10
    deterministic_objective: bool = False
    constraints_func: Any | None = None
    warn_independent_sampling: bool = True


@dataclass
class QMCSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.QMCSampler"
    qmc_type: str = "sobol"
    scramble: bool = False
    independent_sampler: Any | None = None
    warn_independent_sampling: bool = True


SAMPLER_CONFIGS: dict[str, type[SamplerConfig]] = {
    "tpe": TPESamplerConfig, "random": RandomSamplerConfig, "grid": GridSamplerConfig, "cmaes": CmaEsSamplerConfig,
    "nsgaii": NSGAIISamplerConfig, "nsgaiii": NSGAIIISamplerConfig, "gp": GPSamplerConfig, "qmc": QMCSamplerConfig,
}


@dataclass
class NopPrunerConfig:
    """No pruning: every trial runs all its folds."""

    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class MedianPrunerConfig:
    """Optuna's defaults; a trial is compared with the COMPLETE trials at the same fold."""

    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class PercentilePrunerConfig(MedianPrunerConfig):
    _target_: str = "optuna.pruners.PercentilePruner"
    percentile: float = 25.0  # keep the top 25 % at each fold (Optuna has no default)


@dataclass
class SuccessiveHalvingPrunerConfig:
    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class HyperbandPrunerConfig:
    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "auto"
    reduction_factor: int = 3
    bootstrap_count: int = 0


@dataclass
class WilcoxonPrunerConfig:
    """Compares each fold's value with the best trial's at the same fold (needs scipy)."""

    _target_: str = "optuna.pruners.WilcoxonPruner"
    p_threshold: float = 0.1
    n_startup_steps: int = 2


PRUNER_GROUP = "hydra/sweeper/pruner"
PRUNER_CONFIGS: dict[str, type] = {
    "none": NopPrunerConfig, "median": MedianPrunerConfig, "percentile": PercentilePrunerConfig,
    "successive_halving": SuccessiveHalvingPrunerConfig, "hyperband": HyperbandPrunerConfig,
    "wilcoxon": WilcoxonPrunerConfig,
}


@dataclass
class ImbexpOptunaSweeperConf(SweepSettings):
    _target_: str = TARGET
    # the sweeper builds the sampler itself: the grid needs the search space, workers a seed each
    _recursive_: bool = False
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "none"}])
    sampler: Any = MISSING  # filled by hydra/sweeper/sampler
    pruner: Any = MISSING  # filled by hydra/sweeper/pruner


ConfigStore.instance().store(group="hydra/sweeper", name="imbexp_optuna", node=ImbexpOptunaSweeperConf,
                             provider="imbexp")

# the official plugin has no pruners: imbexp's group is its own under either
for _name, _node in PRUNER_CONFIGS.items():
    ConfigStore.instance().store(group=PRUNER_GROUP, name=_name, node=_node, provider="imbexp")


def _official_plugin_installed() -> bool:
    try:  # finds the module without importing it (and its Optuna)
        return importlib.util.find_spec(OFFICIAL_PLUGIN) is not None
    except (ImportError, ValueError):
        return False


if not _official_plugin_installed():
    for _name, _node in SAMPLER_CONFIGS.items():
        ConfigStore.instance().store(group=SAMPLER_GROUP, name=_name, node=_node, provider="imbexp")
