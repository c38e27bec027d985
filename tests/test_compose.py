"""A trial's config from the caching loader equals Hydra's own composition of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from omegaconf import OmegaConf

import imbexp  # noqa: F401  (registers the ${imbexp.root:} resolver)
from imbexp._compat import VERSION_BASE
from imbexp._paths import config_dir
from imbexp.sweeping._compose import TrialConfigLoader


@pytest.fixture
def loaders(imbexp_home: Path) -> Iterator[tuple]:
    """Hydra's loader, the caching one around it, and a sweep's master config."""
    with initialize_config_dir(str(config_dir()), **VERSION_BASE):
        hydra_loader = GlobalHydra.instance().config_loader()
        master = hydra_loader.load_configuration(
            "config", ["sweep=strategies", "hydra/sweeper/sampler=random", "hydra.sweeper.n_trials=5"],
            run_mode=RunMode.MULTIRUN)
        yield hydra_loader, TrialConfigLoader(hydra_loader), master


TRIALS = [  # a sweep passes the command line's overrides (sweep=...) with each trial's values
    ["sweep=strategies", "objective.metric=pr_auc", "strategy=downsample_upweight", "strategy.downsample_factor=3.5",
     "strategy.upweight_factor=2", "tracking.run_id=abc"],
    ["sweep=strategies", "objective.metric=pr_auc", "strategy=downsample_upweight", "strategy.downsample_factor=20",
     "strategy.upweight_factor=20", "tracking.run_id=def"],
    ["sweep=strategies", "objective.metric=pr_auc", "strategy=smote", "strategy.sampling_strategy=0.3",
     "strategy.k_neighbors=4", "tracking.run_id=ghi"],
    ["sweep=strategies", "objective.metric=roc_auc", "strategy=downsample_upweight", "model=logistic_regression",
     "+tags.note=x", "hydra.sweep.dir=/tmp/elsewhere", "seed=7"],
]


@pytest.mark.smoke
def test_trial_configs_equal_hydras_composition(loaders: tuple) -> None:
    hydra_loader, cached, master = loaders
    for _ in range(2):  # the second round comes from the cache
        for overrides in TRIALS:
            expected = hydra_loader.load_sweep_config(master, overrides)
            got = cached.load_sweep_config(master, overrides)
            assert OmegaConf.to_container(got, resolve=False) == OmegaConf.to_container(expected, resolve=False)
            assert OmegaConf.is_struct(got) and OmegaConf.is_struct(expected)
            assert got.strategy == expected.strategy and got.hydra.job.override_dirname
    # one composition per distinct set of group choices, not one per trial
    assert len(cached._composed) == 3


def test_a_trial_does_not_change_the_next_one(loaders: tuple) -> None:
    _, cached, master = loaders
    first = cached.load_sweep_config(master, TRIALS[0])
    first.strategy.downsample_factor = 99.0
    second = cached.load_sweep_config(master, TRIALS[1])
    assert second.strategy.downsample_factor == 20
    assert cached.load_sweep_config(master, TRIALS[0]).strategy.downsample_factor == 3.5


def test_unknown_key_fails_as_in_hydra(loaders: tuple) -> None:
    hydra_loader, cached, master = loaders
    bad = ["sweep=strategies", "strategy=downsample_upweight", "strategy.no_such_factor=3"]
    with pytest.raises(ConfigCompositionException) as hydra_error:
        hydra_loader.load_sweep_config(master, bad)
    with pytest.raises(ConfigCompositionException) as cached_error:
        cached.load_sweep_config(master, bad)
    assert str(cached_error.value) == str(hydra_error.value)
