"""From a ``dataset`` config to a source, and from a source to a loaded :class:`Dataset`.

Sources and loaded datasets are cached per process, keyed by the resolved config, so the trials
of a sweep build the source and load the data once.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from imbexp.datasets._base import BatchReadable, Dataset, DataSource
from imbexp.errors import ConfigError, DataError

if TYPE_CHECKING:
    from imbexp.strategies import Strategy

log = logging.getLogger("imbexp.datasets")


@dataclass
class FunctionSource:
    """A user's plain function that returns a :class:`Dataset`, as a source.

    It has no batch capability: the function can only give the whole dataset.
    """

    target: str
    function: Callable[..., Dataset] = field(repr=False)
    params: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Dataset:
        return self.function(**self.params)


# ----------------------------------------------------------------- building a source from a spec


def build_source(spec: Mapping[str, Any]) -> DataSource:
    """The source a ``dataset`` spec (``_target_`` and its keys) describes, its keys checked.

    ``_target_`` names a class with ``load() -> Dataset`` (built by the one component builder,
    whose constructor validates the keys) or a function returning a :class:`Dataset` (called
    with them when the data is loaded). Keys the target does not accept are refused with
    "did you mean" either way.
    """
    from imbexp import components

    params = dict(spec)
    target = params.pop("_target_", None)
    if not target:
        raise ConfigError("dataset._target_ is missing; pick a dataset with dataset=NAME.")
    made = components.locate(str(target), "dataset._target_")
    made = getattr(made, "source_class", made)  # datasets.synthetic -> datasets.Synthetic
    if not inspect.isclass(made):
        components.check_parameters(made, params, "dataset", str(target))
        try:
            inspect.signature(made).bind(**params)
        except TypeError as exc:  # a required parameter without a value
            raise ConfigError(f"dataset._target_={target!r} cannot take the keys given ({exc}).") from exc
        return FunctionSource(str(target), made, params)
    source = components.build({"_target_": target, **params}, "dataset", target=made)
    if not isinstance(source, DataSource):
        raise ConfigError(f"dataset._target_={target!r} is a class without a load() method; a data source is "
                          "a class whose load() returns an imbexp.datasets.Dataset, or such a function.")
    return source


# ----------------------------------------------------------------- cached per process


def _spec(dataset: Mapping[str, Any]) -> dict[str, Any]:
    from omegaconf import DictConfig, OmegaConf

    return OmegaConf.to_container(dataset, resolve=True) if isinstance(dataset, DictConfig) else dict(dataset)


def _key(dataset: Mapping[str, Any]) -> str:
    return json.dumps(_spec(dataset), sort_keys=True, default=str)


@lru_cache(maxsize=8)
def _built(spec_json: str) -> DataSource:
    return build_source(json.loads(spec_json))


def source_of(dataset: Mapping[str, Any] | DataSource) -> DataSource:
    """The source of a ``dataset`` config, built once per process per config (a source is
    returned as it is). Building it checks every key: a mistake stops the run here."""
    return _built(_key(dataset)) if isinstance(dataset, Mapping) else dataset


def load_dataset(dataset: Mapping[str, Any] | DataSource, labels_only: bool = False) -> Dataset:
    """Load the dataset a ``dataset`` config (cached per process) or a source describes.

    ``labels_only``: for a source read in batches, the labels and no feature rows yet
    (:func:`read_rows` reads those).
    """
    if isinstance(dataset, Mapping):
        return _load_cached(_key(dataset), labels_only)
    return _load(dataset, labels_only)


@lru_cache(maxsize=4)
def _load_cached(spec_json: str, labels_only: bool) -> Dataset:
    return _load(_built(spec_json), labels_only)


def _load(source: DataSource, labels_only: bool) -> Dataset:
    dataset = _batch_reader(source).load_labels() if labels_only else source.load()
    if not isinstance(dataset, Dataset):
        raise DataError(f"dataset source {_describe(source)} returned {type(dataset).__name__}, "
                        "not an imbexp.datasets.Dataset.")
    log.info(
        "dataset %s: %d rows, %d features, minority share %.4f%% (%s imbalance)",
        dataset.name,
        dataset.n_rows,
        dataset.n_features,
        100 * dataset.minority_fraction,
        dataset.degree,
    )
    return dataset


def reads_in_batches(dataset: Mapping[str, Any] | DataSource, strategy: Strategy) -> bool:
    """Whether a run with ``strategy`` reads this dataset in batches: the source has the batch
    capability (:class:`BatchReadable`) and says yes for this strategy."""
    source = source_of(dataset)
    return isinstance(source, BatchReadable) and source.reads_in_batches(strategy)


def read_rows(dataset: Mapping[str, Any] | DataSource, labels: Dataset, rows: np.ndarray) -> Dataset:
    """``labels`` (from ``load_dataset(..., labels_only=True)``) with the feature rows at
    ``rows``, read by the source's batch capability."""
    return _batch_reader(source_of(dataset)).read_rows(labels, rows)


def _batch_reader(source: DataSource) -> BatchReadable:
    if not isinstance(source, BatchReadable):
        raise TypeError(f"dataset source {_describe(source)} cannot be read in batches")
    return source


def _describe(source: Any) -> str:
    return source.target if isinstance(source, FunctionSource) else f"{type(source).__module__}." \
        f"{type(source).__qualname__}"
