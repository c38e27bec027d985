"""A CSV or Parquet file as a source; a large Parquet file can also be read in batches.

Read in batches, the labels come first (:meth:`File.load_labels`); the run chooses its split
and its kept training rows from them, then :meth:`File.read_rows` reads only those rows, batch
by batch, so a downsampled run never holds the whole table in memory. Valid and test are then
predicted batch by batch as well (:meth:`File.predict_rows`): a run keeps their labels and
scores, never their features (:meth:`File.streams_predictions` says when it can).

The file's values reach the model as they are, or the run says what changed (both ways of
reading apply the same rules, :func:`_features`):

- a column of text whose non-empty cells are mostly numbers (at least
  :data:`MOSTLY_NUMERIC`) but not all stops the run, naming the column, the count and a few of
  the cells; ``unparsable: missing`` reads those cells as missing values (and logs how many),
  ``unparsable: category`` keeps the column as categories;
- float64 columns become float32 unless a value does not fit (|x| > 3.4e38): that column keeps
  float64, with a log line, instead of turning into infinities;
- datetime and timedelta columns (and a CSV's text columns of ISO 8601 dates) become float64
  seconds (since the Unix epoch, UTC, for datetimes), with a log line; decimal columns become
  floats; list, struct and map columns are refused in one sentence naming them;
- column names a model cannot take (LightGBM refuses ``" , : [ ] { }``) are renamed, the
  characters replaced by ``_``; the mapping is logged and kept in :attr:`Dataset.column_renames`
  (a run logs it as ``dataset_column_renames.json``);
- an unnamed first column (``Unnamed: 0``: a CSV saved with its pandas index) is dropped with a
  warning;
- a CSV's delimiter is detected from its first lines (``,`` ``;`` tab ``|``) unless ``sep`` is
  given; ``encoding`` is the text encoding (default utf-8).

Columns with a role besides the features (docs/data.md): ``weight`` (per-row training weights),
``cost`` (the cost of missing each positive), ``group`` (ids ``split=group`` keeps together) and
``time`` (the clock of ``split=time``). The weight, group and time columns are not features: a
weight describes how much a row counts, not the case; a model that learns group ids or
timestamps learns the training groups and period, which the valid and test parts do not share.
The cost column stays a feature (a transaction's amount is known when it is judged, and often
predicts fraud); list it in ``drop`` as well to keep it out of the features.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import difflib
import gzip
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from imbexp.constraints import AnyOf, Constraint, Interval, Null, Options, Text, Worded
from imbexp.datasets._base import Dataset, loader_function, param
from imbexp.errors import ConfigError, DataError

if TYPE_CHECKING:
    from imbexp.strategies import Strategy

_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".csv.gz", ".tsv", ".txt")

#: distinct non-numeric tokens a mostly-numeric column may hold and still be a numeric column
#: with stray cells (more, and not number-like, make it a code column)
MAX_STRAY_TOKENS = 5

#: ``read_in_batches: auto`` reads a Parquet file in batches from this size on
BATCH_READ_MIN_BYTES = 256 * 2**20
#: a text column is "mostly numbers" when at least this share of its non-empty cells parse as
#: numbers: then the rest are taken for typos or missing-value markers, not for categories
MOSTLY_NUMERIC = 0.9
#: the largest float32; float64 values beyond it would become infinities in the cast
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: characters a model cannot take in a feature name (LightGBM refuses them: JSON's own)
BAD_NAME_CHARS = re.compile(r'[",:\[\]{}]')
#: delimiters the sniffer chooses from; the first lines of the file decide
DELIMITERS = ",;\t|"
#: how much of a CSV the delimiter is detected from
SNIFF_BYTES = 64 * 1024
#: columns pandas writes for a saved index: an unnamed CSV column, or Parquet's stored index
_INDEX_COLUMN = re.compile(r"Unnamed: 0|__index_level_\d+__")

#: a date or date-time as ISO 8601 writes it (and pandas' to_csv)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?")

log = logging.getLogger("imbexp.datasets")


class _Separator(Constraint):
    """One character (``\\t`` and ``tab`` mean a tab, as a command line cannot type one)."""

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and (len(value) == 1 or value in ("\\t", "tab"))

    def allowed(self) -> str:
        return "one character such as ';' or '\\t' (tab)"


#: the per-row columns a file may name besides the target (dataset.weight=COLUMN, ...)
ROLES = ("weight", "cost", "group", "time")
#: the roles whose columns are not features (see the module docstring for why)
NOT_FEATURES = ("weight", "group", "time")
COLUMN = Worded(AnyOf(Text("a column name"), Null()), "use the name of a column of the file, or null for none")

#: ``eval_sample``: a fraction of each of valid and test (0 < f <= 1), or a number of rows of each
#: (an integer >= 2, since a stratified sample needs a row of each class), or null for every row
EVAL_SAMPLE = Worded(AnyOf(Null(), Interval(float, 0, 1, closed="right"), Interval(int, 2, None, whole_floats=True)),
                     "use null to score every valid and test row, a fraction in (0, 1], or a number of rows "
                     ">= 2 (of each of valid and test)")

SEPARATOR = Worded(AnyOf(_Separator(), Null()), "use one character such as ';' or '\\t' (tab), or null to "
                   "detect it from the file")


@dataclass
class File:
    """A CSV or Parquet file: ``target`` column, ``positive_label`` (default: the minority).

    Text and boolean feature columns become categorical, float64 columns float32 (see the module
    docstring for what else is converted, and what is refused). ``sep`` (default: detected) and
    ``encoding`` apply to CSV files; ``unparsable`` says what a mostly-numeric column's other
    cells become: ``error`` (stop, the default), ``missing`` or ``category``.
    ``read_in_batches`` and ``batch_rows`` apply when a run reads the file in batches
    (:meth:`reads_in_batches`); :meth:`load` reads it whole. ``weight``, ``cost``, ``group`` and
    ``time`` name columns with those roles (:data:`ROLES`; the module docstring says which are
    features). ``eval_sample`` scores a stratified sample of valid and test instead of every row
    (:data:`EVAL_SAMPLE`: a fraction of each part, or a number of rows of each; null = all).
    """

    path: str | None = None
    target: str | None = None
    positive_label: Any = None
    drop: Sequence[str] = ()
    name: str | None = None
    read_in_batches: Any = "auto"
    batch_rows: int = 250_000
    sep: str | None = None
    encoding: str = "utf-8"
    unparsable: str = "error"
    weight: str | None = None
    cost: str | None = None
    group: str | None = None
    time: str | None = None
    eval_sample: Any = None
    file_path: Path = field(init=False, repr=False)
    suffix: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.path:
            raise ConfigError("dataset.path is not set; give a CSV or Parquet file: dataset.path=data/x.parquet")
        if not self.target:
            raise ConfigError("dataset.target is not set; name the label column: dataset.target=COLUMN")
        param("read_in_batches", self.read_in_batches, Options("auto", True, False))
        param("batch_rows", self.batch_rows, Interval(int, 1000, None, whole_floats=True))
        param("sep", self.sep, SEPARATOR)
        param("unparsable", self.unparsable, Options("error", "missing", "category"))
        param("eval_sample", self.eval_sample, EVAL_SAMPLE)
        for role in ROLES:
            param(role, getattr(self, role), COLUMN)
        try:
            codecs.lookup(str(self.encoding))
        except LookupError:
            raise ConfigError(f"dataset.encoding={self.encoding!r} is not allowed; use a text encoding "
                              "Python knows, e.g. utf-8, latin-1 or cp1252.") from None
        self.file_path = Path(str(self.path)).expanduser()
        if not self.file_path.is_file():
            raise DataError(f"dataset.path={str(self.path)!r} does not exist or is not a file "
                            f"(looked in {self.file_path.resolve().parent}).")
        gzipped = self.file_path.name.lower().endswith(".gz")
        self.suffix = ("".join(self.file_path.suffixes[-2:]) if gzipped else self.file_path.suffix).lower()
        if self.suffix not in _PARQUET + _CSV:
            raise DataError(f"dataset.path={str(self.path)!r} has suffix {self.suffix!r}; allowed: "
                            f"{', '.join(_PARQUET + _CSV)}.")
        if self.file_path.stat().st_size == 0:
            raise DataError(f"dataset.path={str(self.path)!r} is an empty file (0 bytes); give a file "
                            "with a header line and rows.")

    def load(self) -> Dataset:
        """The whole file."""
        target = self.target
        try:
            if self.suffix in _PARQUET:
                import pyarrow.parquet as pq

                schema = pq.read_schema(self.file_path)
                _check_target(target, schema.names, self.path)
                self._check_roles(schema.names)
                _check_nested(schema, [target, *_as_list(self.drop), *self._not_features()], self.path)
                frame = pd.read_parquet(self.file_path)
            else:
                frame = self._read_csv()
                _check_target(target, list(frame.columns), self.path)
                self._check_roles(list(frame.columns))
        except UnicodeDecodeError as exc:
            raise DataError(f"dataset.path={str(self.path)!r} is not {self.encoding} text ({exc.reason} at "
                            f"byte {exc.start}); set dataset.encoding to the file's encoding, e.g. "
                            "dataset.encoding=latin-1.") from exc
        except pd.errors.EmptyDataError as exc:
            raise DataError(f"dataset.path={str(self.path)!r} has no header line and no rows; give a file "
                            "with a header line and rows.") from exc
        except (OSError, ValueError) as exc:
            raise DataError(f"dataset.path={str(self.path)!r} cannot be read: {exc}") from exc
        if frame.empty:
            raise DataError(f"dataset.path={str(self.path)!r} has a header ({_shown_columns(list(frame.columns))}) "
                            "but no rows; give a file with rows.")
        kept_out = [target, *self._not_features()]
        drop = _check_drop(self.drop, list(frame.columns), kept_out, self.path)
        drop += _index_columns(list(frame.columns), [*kept_out, *drop, *self._roles().values()], self.path)
        roles = {role: frame[column] for role, column in self._roles().items()}
        X, categorical, renames = _features(frame.drop(columns=list(dict.fromkeys([*kept_out, *drop]))),
                                            self.unparsable, self.path)
        return self._dataset(frame[target], X, categorical, renames=renames, roles=roles)

    def _read_csv(self) -> pd.DataFrame:
        sep = self._separator()
        if sep != ",":
            log.info("dataset.path=%s: columns separated by %r", self.path, sep)
        return pd.read_csv(self.file_path, sep=sep, encoding=self.encoding)

    def _separator(self) -> str:
        """``sep`` as given, else the delimiter :class:`csv.Sniffer` finds in the first lines
        (whole lines only), else the suffix's (tab for ``.tsv``, a comma otherwise)."""
        if self.sep is not None:
            return "\t" if self.sep in ("\\t", "tab") else self.sep
        if self.suffix.startswith(".tsv"):  # the suffix says it (a comma inside a text column must not win)
            return "\t"
        opener = gzip.open if self.suffix.endswith(".gz") else open
        with opener(self.file_path, "rt", encoding=self.encoding, errors="replace", newline="") as handle:
            sample = handle.read(SNIFF_BYTES)
        lines = sample.splitlines()
        if len(sample) == SNIFF_BYTES and len(lines) > 1:
            lines = lines[:-1]  # the last line may be cut off
        try:
            return csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=DELIMITERS).delimiter
        except csv.Error:  # one column, or no consistent delimiter
            return "\t" if self.suffix == ".tsv" else ","

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
            self._check_roles(schema.names)
            kept_out = [target, *self._not_features()]
            drop = _check_drop(self.drop, schema.names, kept_out, self.path)
            drop += _index_columns(schema.names, [*kept_out, *drop, *self._roles().values()], self.path)
            _check_nested(schema, [*kept_out, *drop], self.path)
            # the labels and the role columns, whole: the split and the kept rows are chosen from them
            read = pq.read_table(self.file_path, columns=list(dict.fromkeys([target, *self._roles().values()])))
            labels = read.column(target).to_pandas()
            roles = {role: read.column(column).to_pandas() for role, column in self._roles().items()}
            empty = schema.empty_table().drop_columns(list(dict.fromkeys([*kept_out, *drop]))).to_pandas()
        except (OSError, ValueError) as exc:
            raise DataError(f"dataset.path={str(self.path)!r} cannot be read: {exc}") from exc
        if labels.empty:
            raise DataError(f"dataset.path={str(self.path)!r} has columns ({_shown_columns(schema.names)}) "
                            "but no rows; give a file with rows.")
        X, categorical, renames = _features(empty, self.unparsable, self.path, quiet=True)
        return self._dataset(labels, X, categorical, row_positions=np.empty(0, dtype=np.int64),
                             renames=renames, roles=roles)

    def read_rows(self, labels: Dataset, rows: np.ndarray) -> Dataset:
        """``labels`` (from :meth:`load_labels`) with the feature rows at ``rows`` read from the
        file batch by batch: at most one batch and the kept rows are in memory at a time.

        Float columns are copied straight into preallocated float32 arrays (as :meth:`load`
        keeps them; float64 when a value read does not fit float32); other columns are gathered
        as Arrow arrays and converted at the end. Categories of a text column, and whether it is
        mostly numbers, are decided from the rows read.
        """
        import pyarrow as pa

        rows = np.unique(np.asarray(rows, dtype=np.int64))
        with _batches_of(self.file_path) as parquet:
            schema = parquet.schema_arrow
            columns = self._feature_columns(schema.names)
            filled, gathered, seen = _gather(parquet, rows, columns, int(self.batch_rows))
        self._check_unchanged(seen, labels.n_rows)
        pa.default_memory_pool().release_unused()  # the decoded batches, back to the system
        X = pd.DataFrame({name: filled[name] if name in filled
                          else pa.chunked_array(gathered[name], type=schema.field(name).type).to_pandas()
                          for name in columns}, copy=False)
        X.index = pd.Index(rows)  # the file's row numbers, as when it is read whole
        X, categorical, renames = _features(X, self.unparsable, self.path)
        return dataclasses.replace(labels, X=X, row_positions=rows, categorical_columns=categorical,
                                   column_renames=renames)

    def streams_predictions(self) -> bool:
        """Whether :meth:`predict_rows` can predict valid and test batch by batch with the values a
        run reading them whole would give: when every feature column is a number, a boolean, a
        timestamp or a duration, whose conversion (:func:`_features`) depends on the value
        alone. A text column's categories, and whether it is mostly numbers, are decided from
        all the rows read, which one batch cannot see: with one, valid and test are read with the
        training rows (:meth:`read_rows`), as they were before."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.read_schema(self.file_path)
        kinds = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_timestamp,
                 pa.types.is_duration)
        return all(any(kind(schema.field(c).type) for kind in kinds) for c in self._feature_columns(schema.names))

    def predict_rows(self, read: Dataset, parts: Sequence[tuple[np.ndarray, Callable[[pd.DataFrame], np.ndarray]]],
                     ) -> list[np.ndarray]:
        """For each ``(rows, predict)`` of ``parts``, ``predict(features)`` at those rows (in the
        order given), in one pass over the file: each batch is decoded, the rows of it some part
        wants are taken and converted as ``read`` (the training rows, from :meth:`read_rows`)
        holds its columns, and each part's model predicts its own. At most one batch of
        features is in memory at a time; what stays is one float per wanted row."""
        import pyarrow as pa

        # a split's parts come sorted: those are used as they are (an argsort and a copy are 16
        # bytes a row, 64 MB for the 4M valid and test rows of a 10M-row file)
        orders = [None if _ascending(rows) else np.argsort(rows, kind="stable") for rows, _ in parts]
        # the positions as the split made them (int32 below 2**31 rows): no int64 copy of 4M rows
        wanted = [np.asarray(rows) for rows, _ in parts]
        wanted = [rows if rows.dtype.kind == "i" else rows.astype(np.int64) for rows in wanted]
        wanted = [rows if order is None else rows[order] for rows, order in zip(wanted, orders, strict=True)]
        found = [np.empty(rows.size, dtype=np.float64) for rows in wanted]
        with _batches_of(self.file_path) as parquet:
            columns = self._feature_columns(parquet.schema_arrow.names)
            start = 0
            for batch in parquet.iter_batches(batch_size=int(self.batch_rows), columns=columns):
                first, start = start, start + batch.num_rows
                # the bounds in the positions' own dtype: a list of Python ints would have numpy
                # convert every int32 position to int64 first, once per part and batch
                spans = [(i, *np.searchsorted(rows, np.array([first, start], dtype=rows.dtype)))
                         for i, rows in enumerate(wanted)]
                spans = [(i, low, high) for i, low, high in spans if high > low]
                if not spans:
                    continue
                local = np.unique(np.concatenate([wanted[i][low:high] - first for i, low, high in spans]))
                X = _like(batch.take(pa.array(local)).to_pandas(), read, self.path)
                X.index = pd.Index(local + first)  # the file's row numbers, as read_rows keeps them
                for i, low, high in spans:
                    at = np.searchsorted(local, wanted[i][low:high] - first)
                    found[i][low:high] = parts[i][1](X.iloc[at])
                del X
        pa.default_memory_pool().release_unused()
        self._check_unchanged(start, read.n_rows)
        for i, order in enumerate(orders):
            if order is not None:  # back to the order asked
                back = np.empty_like(found[i])
                back[order] = found[i]
                found[i] = back
        return found

    def _feature_columns(self, names: list[str]) -> list[str]:
        """The file's columns that are features, in file order (the names before renaming)."""
        drop = {self.target, *_as_list(self.drop), *self._not_features()}
        drop |= set(_index_columns(names, list(drop), self.path, quiet=True))
        return [c for c in names if c not in drop]

    def _check_unchanged(self, rows_read: int, labels: int) -> None:
        """The file's rows read now are as many as its labels read first, or one sentence."""
        if rows_read != labels:
            raise DataError(f"dataset.path={str(self.path)!r} changed while it was read "
                            f"({rows_read} rows, {labels} labels).")

    def _roles(self) -> dict[str, str]:
        """The role columns that are set: role -> column name."""
        return {role: getattr(self, role) for role in ROLES if getattr(self, role) is not None}

    def _not_features(self) -> list[str]:
        return list(dict.fromkeys(column for role, column in self._roles().items() if role in NOT_FEATURES))

    def _check_roles(self, columns: list[str]) -> None:
        """Each role column is a column of the file, other than the target."""
        for role, column in self._roles().items():
            if column == self.target:
                raise ConfigError(f"dataset.{role}={column!r} is the label column (dataset.target); use "
                                  f"another column of {self.path}.")
            if column not in columns:
                close = difflib.get_close_matches(column, [str(c) for c in columns], n=3, cutoff=0.5)
                hint = f" close names: {', '.join(map(repr, close))};" if close else ""
                raise ConfigError(f"dataset.{role}={column!r} is not a column of {self.path};{hint} use one of "
                                  f"its columns: {_shown_columns(columns)}, or null for none.")

    def _dataset(self, labels: pd.Series, X: pd.DataFrame, categorical: list[str],
                 row_positions: np.ndarray | None = None, renames: dict[str, str] | None = None,
                 roles: dict[str, pd.Series] | None = None) -> Dataset:
        values = {role: _role_values(series) for role, series in (roles or {}).items()}
        shared = dict(name=self.name or self.file_path.name.split(".")[0], X=X, source=str(self.file_path.resolve()),
                      categorical_columns=categorical, row_positions=row_positions,
                      column_renames=renames or {}, role_columns=self._roles(), **values)
        if self.positive_label is None:
            encoded = _multiclass(labels, self.target, self.path)
            if encoded is not None:
                y, classes = encoded
                return Dataset(y=y, classes=classes, **shared)
        y = _binarise(labels, self.positive_label, self.target, self.path)
        positive = self.positive_label if self.positive_label is not None else _minority_label(labels)
        return Dataset(y=y, positive_label=str(positive), **shared)


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
                values = column.to_numpy(zero_copy_only=False)[local]
                if filled[name].dtype == np.float32 and _overflows_float32(values):
                    filled[name] = filled[name].astype(np.float64)  # once, for the column's first such batch
                filled[name][done:done + local.size] = values
            else:
                gathered[name].append(column.take(pa.array(local)))
        done += local.size
    return filled, gathered, start


#: bytes of a column chunk read at a time when a file is read in batches (Arrow's buffered stream)
READ_BUFFER_BYTES = 2**20


def _batches_of(path: Path):
    """The Parquet file opened for reading batch by batch in little memory. pre_buffer=False: with
    it, Arrow buffers the column chunks of the whole file (950 MB of 10M rows x 20 float32) while
    the batches are read; a buffered stream (:data:`READ_BUFFER_BYTES`) instead of each column
    chunk read whole: measured on 10M rows x 20 float32 in row groups of 1M, batches of 250k rows
    peak at 0.16 GB over the interpreter instead of 0.29 GB, in the same time."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path, pre_buffer=False, buffer_size=READ_BUFFER_BYTES)


def _ascending(rows: np.ndarray) -> bool:
    return bool(rows.size < 2 or np.all(rows[1:] >= rows[:-1]))


def _like(frame: pd.DataFrame, read: Dataset, path: Any) -> pd.DataFrame:
    """A batch's feature columns (numbers, booleans, timestamps: :meth:`File.streams_predictions`)
    converted as the training rows' in ``read``: the same names, dtypes and categories, so each
    row reaches the model as it would have read whole. A float column the training rows keep as
    float32 is cast as :func:`_features` casts it; a boolean column takes the training rows'
    categories (a model knows no other)."""
    renames = read.column_renames
    out = {}
    for name in frame.columns:
        values, like = frame[name], read.X[renames.get(name, name)]
        if isinstance(like.dtype, pd.CategoricalDtype):
            values = pd.Series(pd.Categorical(values.astype(object), categories=like.cat.categories),
                               index=values.index)
        elif pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_timedelta64_dtype(values):
            values = _seconds(values, name, path, lambda *args: None).astype(like.dtype)
        elif values.dtype != like.dtype:
            try:
                values = values.astype(like.dtype)
            except (TypeError, ValueError):  # a gap in an integer column whose training rows had none
                values = values.astype(np.float64)
        out[renames.get(name, name)] = values
    return pd.DataFrame(out, copy=False)[list(read.X.columns)]


def _numpy_dtype(arrow_type) -> Any:
    """float32 for float32 and float64 columns (as :meth:`File.load` keeps them); None for the
    rest, whose pandas type (nullable integers become floats, text categories) pandas decides."""
    import pyarrow as pa

    return np.float32 if pa.types.is_float32(arrow_type) or pa.types.is_float64(arrow_type) else None


def _role_values(series: pd.Series) -> np.ndarray:
    """A role column as an array :class:`Dataset` checks: datetimes with a time zone in UTC (numpy
    keeps no zone), categories as their values, nullable numbers as floats (a gap as NaN, which the
    checks then name)."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.astype(object).to_numpy()
    if pd.api.types.is_extension_array_dtype(series.dtype) and pd.api.types.is_numeric_dtype(series.dtype):
        return series.astype("float64").to_numpy()
    return series.to_numpy()


def _as_list(value: Any) -> list[str]:
    """``dataset.drop=id`` means the one column ``id``, not its letters."""
    return [value] if isinstance(value, str) else list(value or ())


def _check_drop(drop: Any, columns: list[str], kept_out: list[str], path: Any) -> list[str]:
    """The columns to drop, as a list, once they are known to exist and to leave features
    (``kept_out``: the target and the role columns that are no features)."""
    drop = _as_list(drop)
    missing = [c for c in drop if c not in columns]
    if missing:
        raise ConfigError(f"dataset.drop lists {missing}, which are not columns of {path}.")
    if not set(columns) - {*kept_out, *drop}:
        others = f" and the columns {kept_out[1:]} (dataset.weight, group, time)" if kept_out[1:] else ""
        raise ConfigError(f"dataset.drop={drop} leaves no feature columns in {path} besides the target "
                          f"{kept_out[0]!r}{others}; drop fewer columns.")
    return drop


def _features(X: pd.DataFrame, unparsable: str = "error", path: Any = None,
              quiet: bool = False) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """The feature columns as the models take them (see the module docstring): the frame, the
    categorical columns' names and the renamed columns (old name -> new name).

    ``quiet``: no log lines (the column types of an empty table, before the rows are read)."""
    say = (lambda *args: None) if quiet else log.warning
    categorical = []
    for column in X.columns:
        values = X[column]
        if values.dtype == bool:
            X[column] = values.astype("category")
            categorical.append(column)
        elif pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_timedelta64_dtype(values):
            X[column] = _seconds(values, column, path, say)
        elif pd.api.types.is_numeric_dtype(values):
            if values.dtype == np.float64:
                if _overflows_float32(values.to_numpy()):
                    say("dataset column %r holds values beyond float32's range (|x| > 3.4e38); it stays "
                        "float64 instead of turning them into infinities", column)
                else:
                    X[column] = values.astype(np.float32)
        elif isinstance(values.dtype, pd.CategoricalDtype):
            categorical.append(column)
        else:
            converted = _from_objects(values, column, unparsable, path, say)
            if converted is None:
                X[column] = values.astype("category")
                categorical.append(column)
            else:
                X[column] = converted
    renames = _model_names(list(X.columns))
    if renames:
        shown = ", ".join(f"{old!r} -> {new!r}" for old, new in list(renames.items())[:5])
        say("dataset columns renamed for the models, which refuse the characters \" , : [ ] { } in "
            "feature names: %s%s", shown, " ..." if len(renames) > 5 else "")
        X = X.rename(columns=renames)
        categorical = [renames.get(c, c) for c in categorical]
    return X, categorical, renames


def _overflows_float32(values: np.ndarray) -> bool:
    """Whether a finite value would become an infinity as float32 (infinities already there stay)."""
    if values.dtype != np.float64 or values.size == 0:
        return False
    magnitude = np.abs(values)
    return bool(np.any((magnitude > FLOAT32_MAX) & (magnitude != np.inf)))


def _seconds(values: pd.Series, column: str, path: Any, say) -> pd.Series:
    """A datetime column as float64 seconds since 1970-01-01 UTC (a timedelta as seconds): the
    numbers trees split on; float64 keeps whole seconds exact (float32 would round to minutes)."""
    if pd.api.types.is_timedelta64_dtype(values):
        say("dataset column %r is a timedelta; it is read as seconds (float64)", column)
        return values.dt.total_seconds().astype(np.float64)
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    say("dataset column %r is a datetime; it is read as seconds since 1970-01-01 UTC (float64)", column)
    seconds = (values - pd.Timestamp("1970-01-01")).dt.total_seconds()
    return seconds.astype(np.float64)


def _from_objects(values: pd.Series, column: str, unparsable: str, path: Any, say) -> pd.Series | None:
    """A column of Python objects as numbers, or ``None`` to keep it as categories: dates and
    decimals are converted, nested values refused, mostly-numeric text checked."""
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("date", "datetime", "datetime64"):
        return _seconds(pd.to_datetime(values, utc=True), column, path, say)
    if kind == "decimal":
        say("dataset column %r holds decimals; it is read as floats", column)
        return _float_column(values.astype(np.float64), column, say)
    if kind in ("string", "mixed", "mixed-integer", "mixed-integer-float"):
        first = values.dropna().head(1)
        if len(first) and isinstance(first.iloc[0], list | tuple | dict | set | np.ndarray):
            raise DataError(f"dataset.path={str(path)!r}: column {column!r} holds lists or records, which no "
                            f"model can take; drop it with dataset.drop=[{column}] or flatten it first.")
        if kind == "string" and _iso_dates(values):
            dates = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
            wrong = values[dates.isna() & values.notna()]
            if len(wrong):  # 2021-02-30: shaped like a date, but none
                raise DataError(f"dataset.path={str(path)!r}: column {column!r} holds ISO 8601 dates, but "
                                f"{len(wrong)} cells are no valid date ({', '.join(map(repr, wrong.head(3)))}); "
                                f"fix them, or drop the column with dataset.drop=[{column}].")
            return _seconds(dates, column, path, say)
        return _mostly_numeric(values, column, unparsable, path, say)
    return None


def _iso_dates(values: pd.Series) -> bool:
    """Whether every non-empty cell is an ISO 8601 date or date-time (``2021-03-04``,
    ``2021-03-04 10:00:00+01:00``): a CSV's datetime column, which pandas reads as text."""
    uniques = pd.Series(pd.unique(values.dropna()), dtype=object)
    if uniques.empty or not uniques.head(100).astype(str).str.fullmatch(_ISO_DATE).all():
        return False  # most text columns are told apart by their first values, before a full pass
    return bool(uniques.astype(str).str.fullmatch(_ISO_DATE).all())


def _float_column(values: pd.Series, column: str, say) -> pd.Series:
    if _overflows_float32(values.to_numpy()):
        say("dataset column %r holds values beyond float32's range (|x| > 3.4e38); it stays float64", column)
        return values
    return values.astype(np.float32)


def _mostly_numeric(values: pd.Series, column: str, unparsable: str, path: Any, say) -> pd.Series | None:
    """The column as numbers when at least :data:`MOSTLY_NUMERIC` of its non-empty cells are
    numbers and ``unparsable`` is ``missing`` (the others read as missing); ``None`` to keep it as
    categories; a :class:`DataError` naming the cells when ``unparsable`` is ``error``.

    Each distinct value is parsed once (``pd.factorize``), so a column of 10M cells costs a hash
    pass, not 10M parses."""
    codes, uniques = pd.factorize(values)  # missing cells get code -1
    present = codes >= 0
    if not present.any():
        return None
    text = pd.Series(uniques, dtype=object).astype(str)
    parsed = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    counts = np.bincount(codes[present], minlength=len(uniques))
    bad = np.isnan(parsed) & ~text.str.strip().str.lower().isin(["nan"]).to_numpy()
    n_cells, n_bad = int(present.sum()), int(counts[bad].sum())
    # every cell a number, yet stored as text (codes such as "00123" in Parquet): kept as the
    # categories they were, since the file chose text
    if n_bad == 0 or (n_cells - n_bad) / n_cells < MOSTLY_NUMERIC or unparsable == "category":
        return None
    # Stray cells in a numeric column are few distinct tokens ('n/a?', '-') or numbers written
    # another way ('1,234.500'); many distinct codes with letters beside numeric ones (ICD codes
    # 'V27', 'E909' beside '250.83') are a code column: categories, as such a column always was.
    numeric_looking = text[bad].str.fullmatch(r"\s*[-+(]?[$€£]?\s*[\d.,' ]*\d[\d.,' ]*\)?\s*%?\s*")
    if int(bad.sum()) > MAX_STRAY_TOKENS and not bool(numeric_looking.all()):
        return None
    examples = ", ".join(repr(v) for v in text[bad].head(3))
    if unparsable == "error":
        raise DataError(
            f"dataset.path={str(path)!r}: column {column!r} is mostly numbers, but {n_bad} of its {n_cells} "
            f"non-empty cells are not ({examples}); fix them, or use dataset.unparsable=missing to read them "
            f"as missing values (or dataset.unparsable=category to keep the column as categories).")
    say("dataset column %r: %d of %d non-empty cells are not numbers (%s); read as missing "
        "(dataset.unparsable=missing)", column, n_bad, n_cells, examples)
    numbers = pd.Series(parsed[np.maximum(codes, 0)], index=values.index).where(present)
    return _float_column(numbers, column, say)


def _model_names(columns: list[Any]) -> dict[str, str]:
    """Old name -> new name for the columns whose names a model cannot take: the characters
    replaced by ``_``, and a suffix where that would repeat another column's name."""
    taken = {str(c) for c in columns}
    renames: dict[str, str] = {}
    for column in columns:
        if isinstance(column, str) and not BAD_NAME_CHARS.search(column):
            continue
        new = BAD_NAME_CHARS.sub("_", str(column))
        candidate, n = new, 1
        while candidate in taken:
            n += 1
            candidate = f"{new}_{n}"
        taken.add(candidate)
        renames[column] = candidate
    return renames


def _index_columns(columns: list[str], kept: list[str], path: Any, quiet: bool = False) -> list[str]:
    """A saved pandas index (an unnamed first CSV column ``Unnamed: 0``, or Parquet's
    ``__index_level_0__``): not data, so dropped, with a warning for the unnamed one."""
    found = [c for i, c in enumerate(columns) if c not in kept and isinstance(c, str)
             and _INDEX_COLUMN.fullmatch(c) and (i == 0 or c.startswith("__index_level_"))]
    if not quiet and "Unnamed: 0" in found:
        log.warning("dataset.path=%s: its first column has no name (%r, a saved pandas index?); it is "
                    "dropped; give it a name in the file to keep it as a feature", path, "Unnamed: 0")
    return found


def _check_nested(schema, excluded: list[str], path: Any) -> None:
    """Refuse list, struct and map columns (Parquet): no model takes them as one feature."""
    import pyarrow as pa

    nested = [f"{field.name} ({field.type})" for field in schema if field.name not in excluded
              and (pa.types.is_nested(field.type))]
    if nested:
        names = [field.name for field in schema if field.name not in excluded and pa.types.is_nested(field.type)]
        raise DataError(f"dataset.path={str(path)!r} has list or struct columns, which no model can take: "
                        f"{', '.join(nested[:10])}; drop them with dataset.drop=[{','.join(names[:10])}] "
                        "or flatten them first.")


def _shown_columns(columns: list[str]) -> str:
    return ", ".join(map(str, columns[:30])) + (" ..." if len(columns) > 30 else "")


def _check_target(target: str, columns: list[str], path: Any) -> None:
    if target not in columns:
        hint = ""
        if len(columns) == 1 and any(d in str(columns[0]) for d in ";\t|,"):
            hint = "; is the file separated by another character? set dataset.sep"
        raise DataError(f"dataset.target={target!r} is not a column of {path}; columns: "
                        f"{_shown_columns(columns)}{hint}")


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


#: rows a class needs so a stratified split can put one in each of train, valid and test
MIN_CLASS_ROWS = 3


def natural_order(labels: Sequence[str]) -> list[str]:
    """Class labels in a stable natural order: numbers numerically (``2`` before ``10``), then
    text alphabetically; the code of a class is its position in this order."""

    def key(label: str) -> tuple[int, float, str]:
        try:
            number = float(label)
        except ValueError:
            return (1, 0.0, label)
        return (0, number, label) if np.isfinite(number) else (1, 0.0, label)

    return sorted(labels, key=key)


def check_class_rows(classes: Sequence[str], counts: np.ndarray, where: str, remedy: str) -> None:
    """Refuse classes with fewer than :data:`MIN_CLASS_ROWS` rows in one sentence naming them."""
    few = [(c, int(n)) for c, n in zip(classes, counts, strict=True) if n < MIN_CLASS_ROWS]
    if few:
        listed = ", ".join(map(repr, classes[:10])) + (", ..." if len(classes) > 10 else "")
        shown = ", ".join(f"{c!r} ({n} {'row' if n == 1 else 'rows'})" for c, n in few[:10])
        raise DataError(f"{where} has {len(classes)} classes ({listed}), and some have fewer than "
                        f"{MIN_CLASS_ROWS} rows: {shown}; a stratified split into train, valid and test needs "
                        f"{MIN_CLASS_ROWS} rows of each class, so {remedy}.")


def _multiclass(labels: pd.Series, target: str, path: Any) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """The class codes and labels (:func:`natural_order`) of a target with more than two
    classes, or ``None`` for two (or one): those stay binary, the minority being positive."""
    if labels.isna().any():
        return None  # _binarise names the missing labels
    # the distinct values first: factorize's codes are int64, 0.8 GB for 100M rows, and a binary
    # target (the common case) needs none of them
    if len(dict.fromkeys(_label_key(value) for value in pd.unique(labels))) <= 2:
        return None
    codes, uniques = pd.factorize(labels)  # once per distinct value, not per row
    keys = [_label_key(value) for value in uniques]
    classes = natural_order(list(dict.fromkeys(keys)))
    position = {label: code for code, label in enumerate(classes)}
    y = np.array([position[key] for key in keys], dtype=np.int16)[codes]
    check_class_rows(classes, np.bincount(y, minlength=len(classes)), f"dataset.target={target!r} in {path}",
                     "drop those rows or merge them into another class, or set dataset.positive_label to "
                     "detect one class against the rest")
    return y, tuple(classes)
