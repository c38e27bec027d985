"""The :class:`Dataset` every source returns, and the source protocol.

A source is any object with ``load() -> Dataset``. Reading in batches is a capability a source
may add (:class:`BatchReadable`): a run asks the source, never its ``_target_``, whether it can
read the labels first and then only the rows the run uses.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from imbexp.constraints import Constraint, check
from imbexp.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from imbexp.strategies import Strategy

DEGREES = (  # minority share thresholds, upper bound exclusive; 40 % and above is "balanced"
    (0.01, "extreme"),
    (0.20, "moderate"),
    (0.40, "mild"),
)


def degree_of_imbalance(minority_fraction: float) -> str:
    """``extreme`` (< 1 %), ``moderate`` (1 % to < 20 %), ``mild`` (20 % to < 40 %) or
    ``balanced`` (>= 40 %).

    Of the share observed in the rows, not of a generator's setting: labels drawn at 1 % land
    either side of the boundary, so a run reports the share beside the label
    (``dataset_minority_fraction``)."""
    for upper, name in DEGREES:
        if minority_fraction < upper:
            return name
    return "balanced"


@dataclass
class Dataset:
    """Features, binary labels (1 = positive) and, where known, the true P(y=1 | x).

    It checks its own invariants when it is made, so a user's loader that breaks one stops
    with one sentence naming the dataset instead of a crash deep inside a split or a fit:
    labels are 0/1 (kept as int8), one label per row of ``X`` (one per ``row_positions`` entry
    when only some rows were read), ``p_true`` one probability per label, two classes present;
    ``weight`` and ``cost`` finite and >= 0 (weights not all 0), ``group`` and ``time`` with no
    gaps, each one value per label (docs/data.md).
    """

    name: str
    X: pd.DataFrame
    y: np.ndarray
    p_true: np.ndarray | None = None
    positive_label: str = "1"
    source: str = ""
    categorical_columns: list[str] = field(default_factory=list)
    #: positions (into ``y``) of the rows ``X`` holds, sorted; ``None`` when it holds every row
    row_positions: np.ndarray | None = field(default=None, repr=False)
    #: feature columns renamed for the models (the file's name -> the name in ``X``); a run logs
    #: it as ``dataset_column_renames.json``
    column_renames: dict[str, str] = field(default_factory=dict, repr=False)
    #: per-row training weights (e.g. survey or sampling weights), one per label; ``None`` = all 1.
    #: A run fits the model with them (times the strategy's weights); valid and test stay unweighted
    weight: np.ndarray | None = field(default=None, repr=False)
    #: per-row cost of missing a positive (e.g. the transaction amount), one per label; only the
    #: positives' costs are used: ``threshold.rule=min_cost`` and the ``<split>_cost*`` metrics
    cost: np.ndarray | None = field(default=None, repr=False)
    #: per-row group ids (a customer, a patient): ``split=group`` keeps each group in one part
    group: np.ndarray | None = field(default=None, repr=False)
    #: per-row times (datetime64 or numbers): ``split=time`` trains on the past, tests on later rows
    time: np.ndarray | None = field(default=None, repr=False)
    #: the file columns these came from (``{"weight": "w", ...}``), so a sentence names the column
    role_columns: dict[str, str] = field(default_factory=dict, repr=False)
    #: a multi-class dataset's class labels as text, in code order: ``y`` then holds the codes
    #: 0..K-1 (K >= 3) and ``p_true`` one row of K probabilities per label. ``None``: binary
    classes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        self.name = str(self.name)
        if self.classes is not None:
            self.classes = _class_names(self.name, self.classes)
            self.y = _class_codes(self.name, self.y, len(self.classes))
            self.positive_label = ""
        else:
            self.y = _binary_labels(self.name, self.y)
        self.X = _feature_frame(self.name, self.X)
        self.row_positions = _row_positions(self.name, self.row_positions, len(self.X), len(self.y))
        self.p_true = _probabilities(self.name, self.p_true, len(self.y), self.n_classes if self.classes else None)
        self.weight = _row_numbers(self, "weight", self.weight, "finite numbers >= 0, not all 0", all_zero=False)
        self.cost = _row_numbers(self, "cost", self.cost, "finite numbers >= 0 (the cost of missing each positive)")
        self.group = _row_ids(self, "group", self.group)
        self.time = _row_times(self, self.time)
        missing = [c for c in self.categorical_columns if c not in self.X.columns]
        if missing:
            raise DataError(f"dataset {self.name!r}: categorical_columns names {missing}, "
                            "which are not columns of X.")
        if self.classes is not None:
            counts = self.class_counts()
            if (counts == 0).any():
                absent = [c for c, n in zip(self.classes, counts, strict=True) if n == 0]
                raise DataError(f"dataset {self.name!r}: classes {absent} have no rows; every class named "
                                "in Dataset.classes needs at least one.")
            return
        positives = int(self.y.sum())
        if positives == 0 or positives == len(self.y):
            raise DataError(
                f"dataset {self.name!r} has a single class ({len(self.y)} rows, "
                f"{positives} positive); two classes are needed."
            )

    @property
    def n_rows(self) -> int:
        return int(len(self.y))

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def is_multiclass(self) -> bool:
        return self.classes is not None

    @property
    def n_classes(self) -> int:
        return len(self.classes) if self.classes is not None else 2

    def class_counts(self) -> np.ndarray:
        """Rows per class code (0..K-1; for a binary dataset [negatives, positives])."""
        return np.bincount(self.y, minlength=self.n_classes)

    @property
    def positive_fraction(self) -> float:
        return float(np.mean(self.y))

    @property
    def minority_fraction(self) -> float:
        """The smallest class's share of the rows (binary: the minority's)."""
        if self.classes is not None:
            return float(self.class_counts().min() / max(len(self.y), 1))
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
        """What every run reports about its data (a multi-class dataset: its number of classes
        instead of positives; the minority fraction is the smallest class's share)."""
        if self.classes is not None:
            return {"dataset_rows": self.n_rows, "dataset_features": self.n_features,
                    "dataset_classes": self.n_classes, "dataset_minority_fraction": self.minority_fraction,
                    "dataset_degree": self.degree}
        return {
            "dataset_rows": self.n_rows,
            "dataset_features": self.n_features,
            "dataset_positives": int(self.y.sum()),
            "dataset_minority_fraction": self.minority_fraction,
            "dataset_degree": self.degree,
        }


def _shown(values: np.ndarray, limit: int = 5) -> str:
    """A few distinct values as the user wrote them (``2, 3``, not ``np.int64(2)``)."""
    values = pd.unique(values).tolist()
    return ", ".join(map(repr, values[:limit])) + (", ..." if len(values) > limit else "")


def _binary_labels(name: str, y: Any) -> np.ndarray:
    """``y`` as int8 0/1; booleans and whole 0.0/1.0 floats are accepted as such.

    min/max for integers: no temporary array, so 10M labels cost two passes of 10 MB."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"dataset {name!r}: y must hold one label per row (a 1-D array), not shape {y.shape}.")
    if y.dtype.kind == "b":
        return y.astype(np.int8)
    if y.dtype.kind in "iu":
        binary = y.size == 0 or (y.min() >= 0 and y.max() <= 1)
    elif y.dtype.kind == "f":
        binary = bool(((y == 0) | (y == 1)).all())
    else:
        binary = False
    if not binary:
        found = y[~((y == 0) | (y == 1))] if y.dtype.kind in "iuf" else y
        raise DataError(f"dataset {name!r}: labels must be 0 or 1 (1 = the positive class), but y holds "
                        f"{_shown(found)}; map the classes to 0 and 1 in the loader (or give Dataset.classes "
                        "for a multi-class set).")
    return y.astype(np.int8, copy=False)


def _class_names(name: str, classes: Any) -> tuple[str, ...]:
    names = tuple(str(c) for c in classes)
    if len(names) < 3 or len(set(names)) != len(names):
        raise DataError(f"dataset {name!r}: Dataset.classes must name 3 or more distinct classes (a binary "
                        f"dataset gives none and 0/1 labels), not {list(names)}.")
    from imbexp.multiclass import check_class_keys  # two labels logged under one metric name are refused

    check_class_keys(names)
    return names


def _class_codes(name: str, y: Any, n_classes: int) -> np.ndarray:
    """``y`` as int16 class codes 0..K-1 (the positions of the labels in ``Dataset.classes``)."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"dataset {name!r}: y must hold one label per row (a 1-D array), not shape {y.shape}.")
    if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= n_classes)):
        found = y[~np.isin(y, np.arange(n_classes))] if y.dtype.kind in "iuf" else y
        raise DataError(f"dataset {name!r}: a multi-class y holds the class codes 0 to {n_classes - 1} (positions "
                        f"in Dataset.classes), but holds {_shown(found)}.")
    return y.astype(np.int16, copy=False)


def _feature_frame(name: str, X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, np.ndarray) and X.ndim == 2:
        return frame(X)
    raise DataError(f"dataset {name!r}: X must be a pandas DataFrame or a 2-D array, not {type(X).__name__}.")


def _row_positions(name: str, positions: Any, x_rows: int, n_labels: int) -> np.ndarray | None:
    if positions is None:
        if x_rows != n_labels:
            raise DataError(f"dataset {name!r}: X has {x_rows} rows but y has {n_labels} labels; "
                            "give one label per row.")
        return None
    positions = np.asarray(positions, dtype=np.int64)
    ordered = positions.ndim == 1 and bool(np.all(positions[1:] > positions[:-1]))
    if not ordered or (positions.size and (positions[0] < 0 or positions[-1] >= n_labels)):
        raise DataError(f"dataset {name!r}: row_positions must be increasing positions into y "
                        f"(0 to {n_labels - 1}), one per row of X.")
    if x_rows != positions.size:
        raise DataError(f"dataset {name!r}: X has {x_rows} rows but row_positions names {positions.size}; "
                        "give one position per row read.")
    return positions


def _probabilities(name: str, p_true: Any, n_labels: int, n_classes: int | None = None) -> np.ndarray | None:
    if p_true is None:
        return None
    p_true = np.asarray(p_true, dtype=np.float64)
    shape = (n_labels,) if n_classes is None else (n_labels, n_classes)
    if p_true.shape != shape:
        each = "one probability" if n_classes is None else f"a row of {n_classes} class probabilities"
        raise DataError(f"dataset {name!r}: p_true has shape {p_true.shape} for {n_labels} labels; "
                        f"give {each} per label.")
    outside = p_true[~((p_true >= 0) & (p_true <= 1))]  # NaN is outside too
    if outside.size:
        raise DataError(f"dataset {name!r}: p_true must hold probabilities from 0 to 1, but holds "
                        f"{_shown(outside)}.")
    if n_classes is not None and not np.allclose(p_true.sum(axis=1), 1.0, atol=1e-6):
        raise DataError(f"dataset {name!r}: each row of p_true must sum to 1 (the class probabilities of a row).")
    return p_true


def column_words(dataset: Dataset, role: str) -> str:
    """How the run's lines, tags and sentences name a per-row column: ``dataset.cost='amount'``
    when it came from a file's column, else the field of the user's :class:`Dataset`
    (``Dataset.cost``)."""
    column = dataset.role_columns.get(role)
    return f"dataset.{role}={column!r}" if column is not None else f"Dataset.{role}"


def _role(dataset: Dataset, role: str) -> str:
    """:func:`column_words`, with the dataset's name where the column is a loader's field
    (``dataset 'x': Dataset.weight``): the sentence may come before any run line names it."""
    words = column_words(dataset, role)
    return words if dataset.role_columns.get(role) is not None else f"dataset {dataset.name!r}: {words}"


def _one_per_label(dataset: Dataset, role: str, values: Any) -> np.ndarray:
    values = np.asarray(values)
    if values.shape != dataset.y.shape:
        raise DataError(f"{_role(dataset, role)} has shape {values.shape} for {len(dataset.y)} labels; "
                        "give one value per label.")
    return values


def _row_numbers(dataset: Dataset, role: str, values: Any, allowed: str, all_zero: bool = True) -> np.ndarray | None:
    """A weight or cost column as float64, every value finite and >= 0 (a weight column not all 0:
    a model fitted with no weight has learned nothing)."""
    if values is None:
        return None
    values = _one_per_label(dataset, role, values)
    try:
        numbers = values.astype(np.float64, copy=False)  # checked again, not copied, when rows are read
    except (TypeError, ValueError):
        numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(numbers) & (numbers >= 0))
    if bad.any():
        where = int(np.flatnonzero(bad)[0])
        raise DataError(f"{_role(dataset, role)} holds {_shown(values[bad][:1])} (row {where}, one of "
                        f"{int(bad.sum())} such rows); use a column of {allowed}.")
    if not all_zero and numbers.size and not numbers.any():
        raise DataError(f"{_role(dataset, role)} is 0 in every row; use a column of {allowed}.")
    return numbers


def _row_ids(dataset: Dataset, role: str, values: Any) -> np.ndarray | None:
    """Group ids, any values pandas can tell apart; a missing id belongs to no group, so it is refused."""
    if values is None:
        return None
    values = _one_per_label(dataset, role, values)
    missing = pd.isna(values)
    if missing.any():
        raise DataError(f"{_role(dataset, role)} is missing in {int(missing.sum())} rows (the first is row "
                        f"{int(np.flatnonzero(missing)[0])}); give every row a group, or drop those rows.")
    return values


def _row_times(dataset: Dataset, values: Any) -> np.ndarray | None:
    """Times as datetime64[ns] (UTC, for time zones) or float64 numbers, so they sort and compare.

    Text is read as dates when every cell is one (a CSV keeps datetimes as text); other text is
    refused, since "10" < "9" as text would order the rows wrongly."""
    if values is None:
        return None
    values = _one_per_label(dataset, "time", values)
    if values.dtype in (np.dtype("datetime64[ns]"), np.dtype(np.float64)) and not pd.isna(values).any():
        return values  # already checked (a dataset with the rows read is checked again)
    series = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(series):
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        times = series.to_numpy(dtype="datetime64[ns]")
    elif pd.api.types.is_numeric_dtype(series) and series.dtype != bool:
        times = series.to_numpy(dtype=np.float64)
    else:
        try:
            parsed = pd.to_datetime(series, utc=True, format="ISO8601")
        except (TypeError, ValueError):
            text = series.dropna()
            raise DataError(f"{_role(dataset, 'time')} holds {_shown(text.to_numpy()[:1])}, neither a date nor a "
                            "number; use a column of datetimes (or ISO 8601 dates such as '2024-03-01 12:00') "
                            "or of numbers.") from None
        times = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    missing = pd.isna(times)
    if missing.any():
        raise DataError(f"{_role(dataset, 'time')} is missing in {int(missing.sum())} rows (the first is row "
                        f"{int(np.flatnonzero(missing)[0])}); give every row a time, or drop those rows.")
    return times


def frame(X: np.ndarray, prefix: str = "x") -> pd.DataFrame:
    """A feature array as a DataFrame with columns ``x0, x1, ...`` (no copy)."""
    return pd.DataFrame(X, columns=[f"{prefix}{i}" for i in range(X.shape[1])], copy=False)


# --------------------------------------------------------------------------- the protocol


@runtime_checkable
class DataSource(Protocol):
    """What a ``dataset`` config builds: an object whose :meth:`load` returns the data.

    A source checks its parameters when it is made (a bad ``dataset.rows`` stops the run
    before anything is generated or read) and does the work in :meth:`load`.
    """

    def load(self) -> Dataset:
        """The whole dataset."""
        ...


@runtime_checkable
class BatchReadable(Protocol):
    """The capability to read the labels first and the feature rows a run uses afterwards, so
    a downsampled run on a large file never holds the whole table (the file source has it)."""

    def reads_in_batches(self, strategy: Strategy) -> bool:
        """Whether a run with ``strategy`` reads this source in batches (may refuse with a
        one-sentence error when it was asked for and cannot be done)."""
        ...

    def load_labels(self) -> Dataset:
        """The labels, and feature columns with no rows yet (``row_positions`` empty)."""
        ...

    def read_rows(self, labels: Dataset, rows: np.ndarray) -> Dataset:
        """``labels`` with the feature rows at positions ``rows``."""
        ...


@runtime_checkable
class BatchPredictable(Protocol):
    """The capability, beside :class:`BatchReadable`, to predict valid and test batch by batch
    from the source, so a run keeps their labels and scores but never their features."""

    def streams_predictions(self) -> bool:
        """Whether :meth:`predict_rows` gives the features a whole read would (else the run reads
        valid and test with the training rows)."""
        ...

    def predict_rows(self, read: Dataset, parts: Sequence[tuple[np.ndarray, Callable[[pd.DataFrame], np.ndarray]]],
                     ) -> list[np.ndarray]:
        """``predict(features at rows)`` for each ``(rows, predict)``, in one pass; ``read`` holds
        the training rows, whose columns the batches are converted like."""
        ...


def param(key: str, value: Any, constraints: Constraint | Iterable[Constraint]) -> Any:
    """``value`` if allowed, else the one sentence naming ``dataset.<key>``."""
    return check(f"dataset.{key}", value, constraints)


def loader_function(source_class: type, name: str) -> Callable[..., Dataset]:
    """``name(**params)``, the same as ``source_class(**params).load()``, for scripts and
    notebooks (``datasets.synthetic(rows=1000)``) and for configs that name the function as
    ``_target_``: :func:`~imbexp.datasets.build_source` maps it back to the class, so such a
    config keeps the class's checks and capabilities."""

    def load(*args: Any, **params: Any) -> Dataset:
        return source_class(*args, **params).load()

    summary = (inspect.getdoc(source_class) or "").split("\n")[0]
    load.__name__ = load.__qualname__ = name
    load.__module__ = "imbexp.datasets"
    load.__doc__ = f"``{source_class.__name__}(...).load()``: {summary}"
    load.__signature__ = inspect.signature(source_class).replace(return_annotation=Dataset)  # type: ignore[attr-defined]
    load.source_class = source_class  # type: ignore[attr-defined]
    return load
