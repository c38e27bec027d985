"""Trial configs without composing the whole config tree again for every trial.

Hydra's launchers build each job's config with ``ConfigLoader.load_sweep_config``: the defaults
list, every YAML file read and merged again, 0.1-0.4 s per trial, though the trials of a sweep
usually differ only in a few values (the factors). :class:`TrialConfigLoader` wraps the real
loader and composes once per distinct set of *structural* overrides (config group choices,
``+``/``~``, ``hydra.*``); a trial's plain value overrides (``key=value`` of an existing key) are
then applied to a copy, with the same function Hydra applies them with after its own
composition, and the bookkeeping Hydra derives from the overrides (``hydra.overrides.task``, and
on 1.3 ``hydra.job.override_dirname``, which 1.4 resolves from the task overrides) is set the
same way. tests/test_compose.py checks the result equals Hydra's own composition, on 1.3 and 1.4.

No public Hydra API does this (Hydra composes every job from scratch); the helpers used from
``hydra._internal.config_loader_impl`` are the ones Hydra itself calls for these steps, and the
version is bounded below 1.5.
"""

from __future__ import annotations

import copy
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig, OmegaConf, open_dict

from imbexp._compat import HYDRA_1_4

if not HYDRA_1_4:  # 1.4 has ${hydra_override_dirname:} instead
    from hydra._internal.config_loader_impl import get_overrides_dirname


class TrialConfigLoader(ConfigLoader):
    """A :class:`~hydra.core.config_loader.ConfigLoader` that caches the composition of sweep
    jobs by their structural overrides; every other call goes to the wrapped loader."""

    def __init__(self, loader: ConfigLoader) -> None:
        self.loader = loader
        self._parser = OverridesParser.create()
        self._groups: dict[str, bool] = {}
        self._composed: dict[tuple[int, tuple[str, ...]], DictConfig] = {}

    def _is_value(self, override: Override) -> bool:
        """A plain ``key=value`` of the job's config: applied after composition, as Hydra does."""
        if (override.type != OverrideType.CHANGE or override.package is not None
                or override.is_hydra_override() or override.is_sweep_override()):
            return False
        key = override.key_or_group
        if key not in self._groups:
            self._groups[key] = bool(self.loader.get_group_options(key))
        return not self._groups[key]

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        parsed = self._parser.parse_overrides(list(sweep_overrides))
        values = [o for o in parsed if self._is_value(o)]
        structural = tuple(o.input_line for o in parsed if not self._is_value(o))
        key = (id(master_config), structural)  # one master config (the sweep's) for all its jobs
        if key not in self._composed:
            self._composed[key] = self.loader.load_sweep_config(master_config, list(structural))
        config = copy.deepcopy(self._composed[key])
        ConfigLoaderImpl._apply_overrides_to_config(values, config)
        task = [o for o in parsed if not o.is_hydra_override()]
        with open_dict(config.hydra):
            config.hydra.overrides.task = [o.input_line for o in task]
            if not HYDRA_1_4:
                settings = config.hydra.job.config.override_dirname
                config.hydra.job.override_dirname = get_overrides_dirname(
                    overrides=task, kv_sep=settings.kv_sep, item_sep=settings.item_sep,
                    exclude_keys=list(settings.exclude_keys))
        OmegaConf.copy_cache(from_config=master_config, to_config=config)
        return config

    def load_configuration(self, *args: Any, **kwargs: Any) -> DictConfig:
        return self.loader.load_configuration(*args, **kwargs)

    def get_search_path(self) -> Any:
        return self.loader.get_search_path()

    def get_sources(self) -> Any:
        return self.loader.get_sources()

    def list_groups(self, parent_name: str) -> Any:
        return self.loader.list_groups(parent_name)

    def get_group_options(self, *args: Any, **kwargs: Any) -> Any:
        return self.loader.get_group_options(*args, **kwargs)

    def compute_defaults_list(self, *args: Any, **kwargs: Any) -> Any:
        return self.loader.compute_defaults_list(*args, **kwargs)
