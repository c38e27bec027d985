"""Optuna samplers by name (``tpe``, ``random``, ``grid``, ``cmaes``, ``nsgaii``, ``nsgaiii``, ``gp``,
``qmc``) or by ``_target_``, as imbexp's ``hydra/sweeper/sampler`` configs and the official
sweeper's ``hydra/sweeper/sampler`` configs (1.3 and 1.4) give them, with the same fields."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf

from imbexp import components
from imbexp.errors import ConfigError
from imbexp.sweeping._space import SearchSpace


class GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler without its ``study.stop()`` when the grid is used up: the sweep's
    own stop rule (``n_trials``, capped at the grid size) ends every worker."""

    def after_trial(self, study, trial, state, values) -> None:  # noqa: D102
        return None


SAMPLERS: dict[str, type[optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "grid": GridSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "nsgaii": optuna.samplers.NSGAIISampler,
    "nsgaiii": optuna.samplers.NSGAIIISampler,
    "gp": optuna.samplers.GPSampler,
    "qmc": optuna.samplers.QMCSampler,
}
_BY_TARGET = {f"optuna.samplers.{cls.__name__}": name for name, cls in SAMPLERS.items()}
_BY_TARGET["imbexp.sweeping._samplers.GridSampler"] = "grid"
# the official plugin's 1.4 configs: wrappers that drop v5-only arguments left unset, and motpe
_OFFICIAL = "hydra_plugins.hydra_optuna_sweeper."
_BY_TARGET.update({f"{_OFFICIAL}_impl.create_nsgaii_sampler": "nsgaii",
                   f"{_OFFICIAL}_impl.create_nsgaiii_sampler": "nsgaiii",
                   f"{_OFFICIAL}config.raise_motpe_removed": "motpe", "optuna.samplers.MOTPESampler": "motpe"})


def short_name(spec: Any, default: str, by_target: Mapping[str, str],
               keys: tuple[str, str] = ("_target_", "name")) -> str:
    """The short name of a sampler or pruner spec: null (``default``), a name, or a mapping whose
    first of ``keys`` present is a name or a ``_target_`` that ``by_target`` maps to one."""
    if isinstance(spec, DictConfig):
        spec = OmegaConf.to_container(spec, resolve=True)
    if spec is None:
        return default
    if isinstance(spec, str):
        return spec.lower()
    if isinstance(spec, Mapping):
        target = str(spec.get(keys[0]) or spec.get(keys[1]) or default)
        return by_target.get(target, target.lower())
    return repr(spec)


def sampler_name(spec: Any) -> str:
    """The short name of a sampler spec: a name, or a mapping with ``_target_`` (or ``name``)."""
    name = short_name(spec, "tpe", _BY_TARGET)
    if name == "motpe":
        raise ConfigError("hydra.sweeper.sampler=motpe was removed in Optuna 4.0; use tpe, which handles "
                          "several objectives itself.")
    if name not in SAMPLERS:
        raise ConfigError(f"hydra.sweeper.sampler={name!r} is not a known sampler; use one of "
                          f"{', '.join(SAMPLERS)}.")
    return name


def make_sampler(spec: Any, space: SearchSpace, n_objectives: int, seed_offset: int = 0,
                 default_seed: int | None = None) -> optuna.samplers.BaseSampler:
    """Build the sampler; ``seed_offset`` keeps workers (and resumed runs) from drawing the
    same points when a seed is set. ``default_seed`` seeds it when the spec gives no seed (the
    sweep passes the top-level ``seed``, so the same command on a fresh study draws the same
    trials)."""
    name = sampler_name(spec)
    if isinstance(spec, DictConfig):
        spec = OmegaConf.to_container(spec, resolve=True)
    # a null field takes Optuna's own default, as the official plugin's configs mean it
    kwargs = {k: v for k, v in (spec.items() if isinstance(spec, Mapping) else ())
              if k not in ("_target_", "name", "_partial_") and v is not None}
    if kwargs.get("seed") is None and default_seed is not None:
        kwargs["seed"] = int(default_seed)
    if name == "nsgaiii" and kwargs.get("reference_points") is not None:
        import numpy as np

        kwargs["reference_points"] = np.asarray(kwargs["reference_points"], dtype=float)
    if name == "gp":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ConfigError("hydra.sweeper.sampler=gp needs PyTorch; pip install torch, or use tpe.") from None
    if name == "cmaes":
        if n_objectives > 1:
            raise ConfigError("hydra.sweeper.sampler=cmaes optimises one objective; use nsgaii or tpe "
                              "for a multi-objective sweep.")
    if name == "grid":
        kwargs["search_space"] = space.grid()
    if name == "qmc":
        # every worker must walk the same scrambled sequence, so the seed is not offset
        kwargs.setdefault("warn_asynchronous_seeding", False)
    elif name == "grid":
        # the grid sampler shuffles its points with the seed and records a point as its index
        # (grid_id): with a seed offset per worker or per resume, the same index named other
        # points in each process, and a 400-point grid on n_jobs=2 ran 91 points twice and 91
        # never. The seed stays the same; the per-trial reseed below still varies the draws.
        pass
    elif kwargs.get("seed") is not None:
        kwargs["seed"] = (int(kwargs["seed"]) + seed_offset) % 2**32  # numpy seeds are below 2**32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # the one builder: a setting the sampler does not take is named with did-you-mean, and an
        # argument that is an object (independent_sampler: {_target_: ...}) is built first
        sampler = components.build({"_target_": name, **kwargs}, "hydra.sweeper.sampler", target=SAMPLERS[name])
    if name != "qmc" and kwargs.get("seed") is not None:
        _seed_per_trial(sampler, int(kwargs["seed"]))
    return sampler


def _seed_per_trial(sampler: optuna.samplers.BaseSampler, seed: int) -> None:
    """Re-seed the sampler's random state from (seed, trial number) as each trial starts.

    Sweep commands started at once on several machines build the same seeded sampler; seeded
    once, they would all draw the same points. Seeded per trial number (unique in a study),
    they draw different points, and a seeded sweep run alone stays reproducible.
    """
    import numpy as np
    from optuna.samplers._lazy_random_state import LazyRandomState

    def reseed(target: object, value: int, seen: set[int]) -> None:
        if id(target) in seen:
            return
        seen.add(id(target))
        for item in vars(target).values():
            if isinstance(item, LazyRandomState):
                item.rng.seed(value)
            elif isinstance(item, np.random.RandomState):
                item.seed(value)
            elif isinstance(item, optuna.samplers.BaseSampler):
                reseed(item, (value + 1) % 2**32, seen)

    before_trial = sampler.before_trial

    def seeded_before_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        value = int(np.random.SeedSequence([seed, trial.number]).generate_state(1)[0])
        reseed(sampler, value, set())
        before_trial(study, trial)

    sampler.before_trial = seeded_before_trial  # type: ignore[method-assign]
