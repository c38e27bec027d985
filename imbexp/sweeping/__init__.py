"""imbexp's Optuna sweeps, usable without Hydra: the search-space grammar, the samplers and the
ask/tell loop that the ``imbexp_optuna`` Hydra sweeper plugin drives."""

from imbexp.sweeping._impl import WORKER_ENV, OptunaSweep, SweepSettings
from imbexp.sweeping._samplers import SAMPLERS, make_sampler, sampler_name
from imbexp.sweeping._space import Param, SearchSpace, check_keys, format_value, parse_param, parse_search_space
from imbexp.sweeping._study import default_storage, default_study_name, open_storage, resolve_directions

__all__ = [
    "SAMPLERS",
    "WORKER_ENV",
    "OptunaSweep",
    "Param",
    "SearchSpace",
    "SweepSettings",
    "check_keys",
    "default_storage",
    "default_study_name",
    "format_value",
    "make_sampler",
    "open_storage",
    "parse_param",
    "parse_search_space",
    "resolve_directions",
    "sampler_name",
]
