"""imbexp's Optuna sweeps, usable without Hydra: the settings, the search-space grammar, the
samplers, the plan built from a sweep's config and the ask/tell loop that runs it, all driven
by the ``imbexp_optuna`` Hydra sweeper plugin.

The names are imported on first use: Hydra imports every installed plugin's config module at
start-up, on every command, and that module needs only :class:`SweepSettings`, not Optuna.
"""

from importlib import import_module
from typing import Any

_WHERE = {
    "SweepSettings": "_settings",
    "OptunaSweep": "_impl",
    "SweepPlan": "_plan",
    "make_plan": "_plan",
    "SAMPLERS": "_samplers",
    "make_sampler": "_samplers",
    "sampler_name": "_samplers",
    "Param": "_space",
    "SearchSpace": "_space",
    "check_keys": "_space",
    "format_value": "_space",
    "parse_param": "_space",
    "parse_search_space": "_space",
    "default_storage": "_study",
    "default_study_name": "_study",
    "open_storage": "_study",
    "resolve_directions": "_study",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
