"""A CSV or Parquet file as a source; a large Parquet file can also be read in batches.

Read in batches, the labels come first (:meth:`File.load_labels`); the run chooses its split
and its kept training rows from them, then :meth:`File.read_rows` reads only those rows, batch
by batch, so a downsampled run never holds the whole table in memory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from imbexp.constraints import Interval, Options
from imbexp.datasets._base import Dataset, loader_function, param
from imbexp.errors import ConfigError, DataError

if TYPE_CHECKING:
    from imbexp.strategies import Strategy

_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".csv.gz", ".tsv", ".txt")

#: ``read_in_batches: auto`` reads a Parquet file in batches from this size on
BATCH_READ_MIN_BYTES = 256 * 2**20


@dataclass
class File:
    """A CSV or Parquet file: ``target`` column, ``positive_label`` (default: the minority).

    Text and boolean feature columns become categorical, float64 columns float32.
    ``read_in_batches`` and ``batch_rows`` apply when a run reads the file in batches
    (:meth:`reads_in_batches`); :meth:`load` reads it whole.
    """

    path: str | None = None
    target: str | None = None
    positive_label: Any = None
    drop: Sequence[str] = ()
    name: str | None = None
    read_in_batches: Any = "auto"
    batch_rows: int = 1_000_000
    file_path: Path = field(init=False, repr=False)
    suffix: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.path:
            raise ConfigError("dataset.path is not set; give a CSV or Parquet file: dataset.path=data/x.parquet")
        if not self.target:
            raise ConfigError("dataset.target is not set; name the label column: dataset.target=COLUMN")
        param("read_in_batches", self.read_in_batches, Options("auto", True, False))
        param("batch_rows", self.batch_rows, Interval(int, 1000, None, whole_floats=True))
        self.file_path = Path(str(self.path)).expanduser()
        if not self.file_path.is_file():
            raise DataError(f"dataset.path={str(self.path)!r} does not exist or is not a file "
                            f"(looked in {self.file_path.resolve().parent}).")
        gzipped = self.file_path.name.lower().endswith(".gz")
        self.suffix = ("".join(self.file_path.suffixes[-2:]) if gzipped else self.file_path.suffix).lower()
        if self.suffix not in _PARQUET + _CSV:
            raise DataError(f"dataset.path={str(self.path)!r} has suffix {self.suffix!r}; allowed: "
                            f"{', '.join(_PARQUET + _CSV)}.")

    def load(self) -> Dataset:
        """The whole file."""
        target = self.target
        try:
            if self.suffix in _PARQUET:
                import pyarrow.parquet as pq

                _check_target(target, pq.read_schema(self.file_path).names, self.path)
                frame = pd.read_parquet(self.file_path)
            else:
                frame = pd.read_csv(self.file_path, sep="\t" if self.suffix == ".tsv" else ",")
                _check_target(target, list(frame.columns), self.path)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"dataset.path={str(self.path)!r} cannot be read: {exc}") from exc
        drop = _check_drop(self.drop, list(frame.columns), target, self.path)
        X, categorical = _features(frame.drop(columns=[target, *drop]))
        return self._dataset(frame[target], X, categorical)

    def reads_in_batches(self, strategy: Strategy) -> bool:
        """Whether a run reads this file in batches: a Parquet file with ``read_in_batches:
        true``, or ``auto`` (the default) and at least :data:`BATCH_READ_MIN_BYTES`, when
        ``strategy`` keeps rows chosen from the labels alone."""
        if self.read_in_batches is False:
            return False
        parquet = self.suffix in _PARQUET
        if self.read_in_batches is True:
            if not parquet:
                raise ConfigError(f"dataset.read_in_batches=true needs a Parquet file; dataset.path="
                                  f"{str(self.path)!r} is not one (use auto or false).")
            if not strategy.selects_rows:
                raise ConfigError(f"dataset.read_in_batches=true needs a strategy that keeps rows chosen "
                                  f"from the labels (none, downsample, downsample_upweight, class_weight); "
                                  f"strategy {strategy.name} builds rows from the whole training part.")
            return True
        return parquet and strategy.selects_rows and self.file_path.stat().st_size >= BATCH_READ_MIN_BYTES

    def load_labels(self) -> Dataset:
        """The file's labels, and its feature columns with no rows yet: the first step of
        reading it in batches."""
        import pyarrow.parquet as pq

        target = self.target
        try:
            schema = pq.read_schema(self.file_path)
            _check_target(target, schema.names, self.path)
            drop = _check_drop(self.drop, schema.names, target, self.path)
            labels = pq.read_table(self.file_path, columns=[target]).column(0).to_pandas()
            empty = schema.empty_table().drop_columns([target, *drop]).to_pandas()
        except (OSError, ValueError) as exc:
            raise DataError(f"dataset.path={str(self.path)!r} cannot be read: {exc}") from exc
        X, categorical = _features(empty)
        return self._dataset(labels, X, categorical, row_positions=np.empty(0, dtype=np.int64))

    def read_rows(self, labels: Dataset, rows: np.ndarray) -> Dataset:
        """``labels`` (from :meth:`load_labels`) with the feature rows at ``rows`` read from the
        file batch by batch: at most one batch and the kept rows are in memory at a time.

        Float columns are copied straight into preallocated float32 arrays (as :meth:`load`
        keeps them); other columns are gathered as Arrow arrays and converted at the end.
        Categories of a text column are the values among the rows read.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = np.unique(np.asarray(rows, dtype=np.int64))
        drop = {self.target, *_as_list(self.drop)}
        # pre_buffer=False: with it, Arrow buffers the column chunks of the whole file (950 MB of
        # 10M rows x 20 float32) while the batches are read.
        with pq.ParquetFile(self.file_path, pre_buffer=False) as parquet:
            schema = parquet.schema_arrow
            columns = [c for c in schema.names if c not in drop]
            filled, gathered, seen = _gather(parquet, rows, columns, int(self.batch_rows))
        if seen != labels.n_rows:
            raise DataError(f"dataset.path={str(self.path)!r} changed while it was read "
                            f"({seen} rows, {labels.n_rows} labels).")
        pa.default_memory_pool().release_unused()  # the decoded batches, back to the system
        X = pd.DataFrame({name: filled[name] if name in filled
                          else pa.chunked_array(gathered[name], type=schema.field(name).type).to_pandas()
                          for name in columns}, copy=False)
        X.index = pd.Index(rows)  # the file's row numbers, as when it is read whole
        X, _ = _features(X)
        return dataclasses.replace(labels, X=X, row_positions=rows)

    def _dataset(self, labels: pd.Series, X: pd.DataFrame, categorical: list[str],
                 row_positions: np.ndarray | None = None) -> Dataset:
        y = _binarise(labels, self.positive_label, self.target, self.path)
        positive = self.positive_label if self.positive_label is not None else _minority_label(labels)
        return Dataset(name=self.name or self.file_path.name.split(".")[0], X=X, y=y,
                       positive_label=str(positive), source=str(self.file_path.resolve()),
                       categorical_columns=categorical, row_positions=row_positions)


file = loader_function(File, "file")


def _gather(parquet, rows: np.ndarray, columns: list[str], batch_rows: int) -> tuple[dict, dict, int]:
    """The values at ``rows`` (sorted) of each column, one batch at a time: float columns in
    preallocated float32 arrays, the others as lists of Arrow arrays; and the rows seen."""
    import pyarrow as pa

    schema = parquet.schema_arrow
    numeric = {c: _numpy_dtype(schema.field(c).type) for c in columns}
    filled = {c: np.empty(rows.size, dtype=dtype) for c, dtype in numeric.items() if dtype is not None}
    gathered: dict[str, list] = {c: [] for c, dtype in numeric.items() if dtype is None}
    start = done = 0
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
        first, start = start, start + batch.num_rows
        low, high = np.searchsorted(rows, [first, start])
        if high == low:  # no kept row in this batch: nothing decoded into numpy
            continue
        local = rows[low:high] - first
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if name in filled:
                filled[name][done:done + local.size] = column.to_numpy(zero_copy_only=False)[local]
            else:
                gathered[name].append(column.take(pa.array(local)))
        done += local.size
    return filled, gathered, start


def _numpy_dtype(arrow_type) -> Any:
    """float32 for float32 and float64 columns (as :meth:`File.load` keeps them); None for the
    rest, whose pandas type (nullable integers become floats, text categories) pandas decides."""
    import pyarrow as pa

    return np.float32 if pa.types.is_float32(arrow_type) or pa.types.is_float64(arrow_type) else None


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
