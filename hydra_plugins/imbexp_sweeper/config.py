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
class ImbexpOptunaSweeperConf(SweepSettings):
    _target_: str = TARGET
    # the sweeper builds the sampler itself: the grid needs the search space, workers a seed each
    _recursive_: bool = False
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}])
    sampler: Any = MISSING  # filled by hydra/sweeper/sampler


ConfigStore.instance().store(group="hydra/sweeper", name="imbexp_optuna", node=ImbexpOptunaSweeperConf,
                             provider="imbexp")

def _official_plugin_installed() -> bool:
    try:  # finds the module without importing it (and its Optuna)
        return importlib.util.find_spec(OFFICIAL_PLUGIN) is not None
    except (ImportError, ValueError):
        return False


if not _official_plugin_installed():
    for _name, _node in SAMPLER_CONFIGS.items():
        ConfigStore.instance().store(group=SAMPLER_GROUP, name=_name, node=_node, provider="imbexp")
