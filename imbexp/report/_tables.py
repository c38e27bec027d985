"""The report's tables as data frames: the leaderboard, the means per factor the figures draw, every
run, and the Pareto front of a two-objective sweep."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from imbexp.intervals import DELTA_METHODS, INTERVAL_METRICS, Delta
from imbexp.report import _multiclass as multiclass
from imbexp.report._describe import number
from imbexp.report._runs import (
    BASELINE_RUN_TAG,
    COMPARED_TO_TAG,
    FACTOR1_RUN_TAG,
    NO_INTERVALS_TAG,
    ReportRuns,
)

LEADERBOARD_COLUMNS = (
    ("test_pr_auc", "PR-AUC"),
    ("test_roc_auc", "ROC-AUC"),
    ("test_f1", "F1 @ 0.5"),
    ("test_f1_tuned", "F1 tuned"),
    ("test_ece", "ECE"),
    ("test_prediction_bias", "pred. bias"),
    ("test_log_loss", "log loss"),
    ("fit_seconds", "fit s"),
    ("train_rows", "train rows"),
)
#: the calibration metrics beyond ECE and prediction bias (issue 13), in the reliability section
CALIBRATION_COLUMNS = (
    ("test_calibration_intercept", "calibration intercept"),
    ("test_calibration_slope", "calibration slope"),
    ("test_net_benefit", "net benefit @ tuned"),
)
#: the paired comparisons the leaderboard shows: (metric, heading)
DELTA_COLUMNS = (
    ("pr_auc", "Δ PR-AUC"),
    ("roc_auc", "Δ ROC-AUC"),
    ("ece", "Δ ECE"),
    ("prediction_bias", "Δ pred. bias"),
)
#: each comparison a run may log: (metric suffix, the tags naming the run it was compared with, heading)
COMPARISONS = (
    ("", (BASELINE_RUN_TAG, COMPARED_TO_TAG), "vs baseline"),
    ("_vs_factor1", (FACTOR1_RUN_TAG,), "vs factor 1"),
)
#: how a group's deltas were made (the mean of its seeds' deltas, a t interval across seeds)
SEED_METHOD = "t interval across seeds"
RUN_TABLE_COLUMNS = (
    ("test_pr_auc", "PR-AUC"),
    ("test_roc_auc", "ROC-AUC"),
    ("test_f1_tuned", "F1 tuned"),
    ("test_ece", "ECE"),
    ("test_prediction_bias", "pred. bias"),
    ("fit_seconds", "fit s"),
    ("train_rows", "train rows"),
)


def leaderboard_columns(runs: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    """The leaderboard's (metric, heading) columns: the binary ones, or where the runs are
    multi-class, :data:`imbexp.report._multiclass.LEADERBOARD_COLUMNS`."""
    return multiclass.LEADERBOARD_COLUMNS if multiclass.any_multiclass(runs) else LEADERBOARD_COLUMNS


def run_table_columns(runs: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    """The metric columns of the table of every run, likewise."""
    return multiclass.RUN_TABLE_COLUMNS if multiclass.any_multiclass(runs) else RUN_TABLE_COLUMNS


def delta_columns(runs: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    """The paired comparisons shown, likewise."""
    return multiclass.DELTA_COLUMNS if multiclass.any_multiclass(runs) else DELTA_COLUMNS


def delta_of(row: pd.Series, metric: str, suffix: str = "") -> Delta | None:
    """The paired comparison ``row`` logged for ``metric`` (``test_<metric>_delta{suffix}``), or None."""
    key = f"test_{metric}_delta{suffix}"
    value = number(row.get(key))
    if value is None:
        return None

    def bound(name: str) -> float:
        found = number(row.get(f"{key}_{name}"))
        return float("nan") if found is None else found

    method = SEED_METHOD if row.get("is_group") else DELTA_METHODS.get(metric, "")
    return Delta(value, bound("ci_low"), bound("ci_high"), bound("p"), method)


def compared(runs: pd.DataFrame, suffix: str = "", columns: Sequence[tuple[str, str]] = DELTA_COLUMNS) -> bool:
    """Whether any run logged the comparison ``suffix`` of one of ``columns``."""
    return any(f"test_{metric}_delta{suffix}" in runs and runs[f"test_{metric}_delta{suffix}"].notna().any()
               for metric, _ in columns)


def _references(data: ReportRuns, tags: Sequence[str]) -> set[str]:
    """The runs others were compared with (by the tags naming them), a group counting as
    referenced when one of its seeds is."""
    frames = [data.runs, data.seeds]
    found = {value for frame in frames for tag in tags if f"tags.{tag}" in frame
             for value in frame[f"tags.{tag}"].dropna()}
    if not data.seeds.empty:
        found |= set(data.seeds.loc[data.seeds["run_id"].isin(found), "group"].dropna())
    return found


def _is_reference(data: ReportRuns, runs: pd.DataFrame, suffix: str, tags: Sequence[str],
                  columns: Sequence[tuple[str, str]] = DELTA_COLUMNS) -> pd.Series:
    """Which runs are the reference of a comparison: named by another run's tag or, where the
    runs predate those tags, by what a baseline is (strategy none; for ``_vs_factor1``, factor 1)."""
    logged = pd.Series(False, index=runs.index)
    for metric, _ in columns:
        if f"test_{metric}_delta{suffix}" in runs:
            logged |= runs[f"test_{metric}_delta{suffix}"].notna()
    if not suffix:
        by_definition = runs["strategy_name"] == "none"
    else:  # factor 1 of a strategy whose other factors were compared with it
        by_definition = (runs["factor"] == 1) & runs["strategy_label"].isin(set(runs.loc[logged, "strategy_label"]))
    return runs["run_id"].isin(_references(data, tags)) | (by_definition & ~logged)


def leaderboard(data: ReportRuns) -> pd.DataFrame:
    """One row per (strategy, factor[, dataset, model]): the mean over its runs, ranked by the
    first objective on valid.

    A group of seeds is one run here: its own mean, ``_sd`` across seeds and seed intervals. A row
    of several runs gets the standard deviation across them instead. For each comparison
    (:data:`COMPARISONS`) a row has its mean deltas, ``verdicts_<metric><suffix>`` (the verdict
    of each of its runs, from :meth:`Delta.verdict`) and ``reference<suffix>``; ``no_intervals``
    is the reason a run gave for logging no intervals.
    """
    runs = data.finished
    if runs.empty:
        return pd.DataFrame()
    keys = ["strategy_label", "factor", *data.facets]
    is_multiclass = multiclass.any_multiclass(runs)
    metrics = [m for m, _ in leaderboard_columns(runs) if m in runs] + [k for k in data.objective.keys if k in runs]
    metrics += [m for m, _ in CALIBRATION_COLUMNS if m in runs] + multiclass.per_class_metrics(runs)
    extra: dict[str, pd.Series] = {}
    deltas = delta_columns(runs)
    for suffix, tags, _ in COMPARISONS:
        if not compared(runs, suffix, deltas):
            continue
        extra[f"reference{suffix}"] = _is_reference(data, runs, suffix, tags, deltas)
        for metric, _ in deltas:
            metrics.append(f"test_{metric}_delta{suffix}")
            extra[f"verdicts_{metric}{suffix}"] = runs.apply(lambda row, m=metric, s=suffix: _verdict(row, m, s),
                                                             axis=1)
    metrics = [m for m in dict.fromkeys(metrics) if m in runs]
    bounds = [f"{m}_{kind}_{b}" for m in metrics for kind in ("ci", "seed_ci") for b in ("low", "high")]
    # a multi-class run logs intervals for the metrics its own coverage check chose: each one is shown
    bounds = [b for b in bounds if b in runs and (_is_interval(b) or is_multiclass)]
    logged_sd = [f"{m}_sd" for m in metrics if f"{m}_sd" in runs]
    runs = runs.assign(**extra, no_intervals=runs.get(f"tags.{NO_INTERVALS_TAG}"))
    grouped = runs.groupby(keys, dropna=False, sort=False)
    table = grouped[list(dict.fromkeys(metrics + bounds + logged_sd))].mean()
    table["runs"] = grouped.size()
    spread = grouped[metrics].std(ddof=1)
    for metric in metrics:  # one run: the sd a group logged across its seeds; several: across them
        logged = table[f"{metric}_sd"] if f"{metric}_sd" in table else np.nan
        table[f"{metric}_sd"] = spread[metric].where(table["runs"] > 1, logged)
    table["seeds"] = grouped["seeds"].sum(min_count=1)
    table["is_group"] = grouped["is_group"].all() & (table["runs"] == 1)
    table["factor_name"] = grouped["factor_name"].first()
    table["no_intervals"] = grouped["no_intervals"].first()
    table["run_ids"] = grouped["run_id"].agg(list)
    if "worst_class" in runs:
        table["worst_class"] = grouped["worst_class"].agg(lambda found: ", ".join(dict.fromkeys(found.dropna())))
    for name in extra:
        table[name] = grouped[name].all() if name.startswith("reference") else grouped[name].agg(
            lambda verdicts: [v for v in verdicts if v])
    table = table.reset_index()
    key = data.objective.keys[0]
    if key in table:
        table = table.sort_values(key, ascending=data.objective.directions[0] == "minimize", na_position="last")
    return table.reset_index(drop=True)


def _is_interval(column: str) -> bool:
    """``test_<m>_ci_low`` of an interval metric, or the bound of a delta or seed interval."""
    return "_delta" in column or "_seed_ci_" in column or any(
        column in (f"test_{m}_ci_low", f"test_{m}_ci_high") for m in INTERVAL_METRICS)


def _verdict(row: pd.Series, metric: str, suffix: str) -> str | None:
    delta = delta_of(row, metric, suffix)
    return None if delta is None else delta.verdict(metric)


def verdict_words(verdicts: Sequence[str]) -> str:
    """The verdict of a row: its runs' common verdict, or how many runs said what."""
    if not verdicts:
        return ""
    def order(word: str) -> tuple[int, str]:
        return (_VERDICT_ORDER.index(word) if word in _VERDICT_ORDER else len(_VERDICT_ORDER), word)

    counts = {word: list(verdicts).count(word) for word in sorted(set(verdicts), key=order)}
    if len(counts) == 1:
        word = next(iter(counts))
        return word if len(verdicts) == 1 else f"{word} (all {len(verdicts)} runs)"
    return "mixed: " + ", ".join(f"{count} {word}" for word, count in counts.items())


#: the order a tally of verdicts is read in
_VERDICT_ORDER = ("better", "worse", "higher", "lower", "no detectable difference")


def run_table(data: ReportRuns) -> pd.DataFrame:
    """Every run, in trial order when a sweeper numbered them, else in the order they started."""
    runs = data.runs
    order = ["trial", "start_time"] if runs["trial"].notna().any() else ["start_time"]
    return runs.sort_values(order, na_position="last")


def factor_axis(runs: pd.DataFrame) -> str | None:
    """The factor a report draws its figures against: the one most runs have."""
    names = runs["factor_name"].dropna()
    return str(names.value_counts(sort=True).index[0]) if len(names) else None


def factor_varies(runs: pd.DataFrame) -> bool:
    """Whether the runs take several values of the axis factor: a figure against it has a line to draw."""
    axis = factor_axis(runs)
    return runs.loc[runs["factor_name"] == axis, "factor"].nunique() > 1


def on_axis(runs: pd.DataFrame, axis: str | None) -> pd.DataFrame:
    """The runs as the figures draw them against ``axis``: a run with another factor has none on
    this axis (it is drawn as a level), its label then saying its factor where a series has several."""
    off_axis = runs["factor_name"] != axis  # also every run without a factor
    distinct = runs[off_axis].groupby("strategy_label")["factor"].transform(lambda f: f.nunique(dropna=False))
    named = (distinct > 1).reindex(runs.index, fill_value=False) & runs["factor"].notna()
    labels = runs["strategy_label"].where(~named, runs["strategy_label"] + " " + runs["factor_name"].astype(str)
                                          + "=" + runs["factor"].map(lambda f: f"{f:g}"))
    return runs.assign(strategy_label=labels, factor=runs["factor"].where(~off_axis))


#: at most this many series (lines, colours, legend entries) in a figure: tab10 has ten colours, and
#: two legend entries stay for what a figure adds (the Pareto front, treat all and treat none)
MAX_SERIES = 8
#: a number a label gives a setting by (``w=13.72819``, ``sampling_strategy=0.25``)
_SETTING = re.compile(r"(?P<name>[\w.]+)=(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.:,])")


def series_key(runs: pd.DataFrame, facets: Sequence[str]) -> pd.Series:
    """What one line or colour of a figure stands for: the strategy, with the dataset and the
    model when the report spans several; made readable by :func:`readable_series`."""
    key = runs["strategy_label"].astype(str)
    for facet in facets:
        key = key + " · " + runs[facet].astype(str)
    return readable_series(key)


def report_series(runs: pd.DataFrame, facets: Sequence[str]) -> pd.Series:
    """Each run's series as every figure names it: :func:`series_key` of the runs as drawn
    against the report's factor axis (:func:`on_axis`)."""
    return series_key(on_axis(runs, factor_axis(runs)), facets)


def series_of(runs: pd.DataFrame, facets: Sequence[str] = ()) -> pd.Series:
    """The series the report gave each of ``runs`` when it loaded them, else made from them."""
    if "series" in runs and runs["series"].notna().all():
        return runs["series"].astype(str)
    return report_series(runs, facets)


def series_colors(series: Sequence[str]) -> dict[str, str]:
    """A colour per series, in the order of :func:`series_order`: tab10's ten, tab20's twenty past
    ten, and evenly over turbo past twenty (many strategies, which no bin merges); as hex text, so
    that a frame of runs can hold each run's colour."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    names = sorted({str(name) for name in series}, key=series_order)
    if len(names) <= 10:
        found = [colormaps["tab10"](i) for i in range(len(names))]
    elif len(names) <= 20:  # tab20's dark shades first: its pairs of one hue then meet only past ten
        found = [colormaps["tab20"](i) for i in [*range(0, 20, 2), *range(1, 20, 2)][:len(names)]]
    else:
        found = [colormaps["turbo"](x) for x in np.linspace(0.05, 0.95, len(names))]
    return {name: to_hex(color, keep_alpha=False) for name, color in zip(names, found, strict=True)}


def palette_of(runs: pd.DataFrame, facets: Sequence[str] = ()) -> dict[str, str]:
    """Each series' colour: the one the report gave it when loading, else made from ``runs``."""
    if "series_color" in runs and runs["series_color"].notna().all() and "series" in runs:
        return dict(zip(runs["series"].astype(str), runs["series_color"], strict=True))
    return series_colors(series_of(runs, facets))


def readable_series(labels: pd.Series) -> pd.Series:
    """``labels`` as a legend can show them: the numbers they give settings rounded to three
    significant figures, and past :data:`MAX_SERIES` distinct labels, the settings of a sweep
    binned between round values (``w 10–20``), as few bins merged as reach that limit.

    An Optuna sweep of a second, continuous factor (``downsample_upweight w=13.72819``) makes
    every trial its own series. Bins rather than a colorbar: the series is what every figure of
    the report draws by (the lines against the factor, the reliability curves of each series'
    best run, the decision curve, the Pareto front), so binning it once keeps them one legend and
    one colour each; a colorbar would only serve the scatter plots.

    Only labels that differ in nothing but their numbers share a bin, and only a setting with
    more than :data:`MAX_SERIES` distinct values is binned: a grid keeps each value it was run at.
    Labels that differ otherwise (strategies, datasets) stay apart however many there are, since a
    figure that merged them would average different techniques into one line."""
    labels = labels.astype(str)
    rounded = labels.map(lambda text: _SETTING.sub(lambda m: f"{m['name']}={round_text(m['value'])}", text))
    if rounded.nunique() <= MAX_SERIES:
        return rounded
    return _Bins(labels).fewest()  # binned by the values run, not their rounding (19.996 < 20)


def round_text(value: object, digits: int = 3) -> str:
    """A number to ``digits`` significant figures, without an exponent where plain reads as well:
    ``13.72819`` -> ``13.7``, ``1234.5`` -> ``1230``, ``0.000123456`` -> ``0.000123``."""
    return f"{float(f'{float(value):.{digits}g}'):g}"


#: the round edges a setting is binned between, finest first: 1, 2 and 5 in each decade, the
#: decades, then one bin (log steps for positive settings, matplotlib's linear ones otherwise)
_LEVELS = ((1.0, 2.0, 5.0), (1.0,), None)


class _Bins:
    """The settings of labels of one shape (the label with its numbers left out) and the text
    each of their values is shown by, merged bin by bin.

    By hand: no library bins the numbers inside text labels; matplotlib's locators give the edges."""

    def __init__(self, labels: pd.Series) -> None:
        self.labels = labels
        self.shapes = labels.map(lambda text: _SETTING.sub(lambda m: f"{m['name']}=#", text))
        self.values = {index: tuple(float(m["value"]) for m in _SETTING.finditer(text))
                       for index, text in labels.items()}
        self.rows = set(zip(self.shapes, (self.values[i] for i in labels.index), strict=True))
        self.names: dict[tuple[str, int], str] = {}
        self.texts: dict[tuple[str, int], dict[float, str]] = {}
        for index, text in labels.items():
            for column, match in enumerate(_SETTING.finditer(text)):
                key = (self.shapes[index], column)
                self.names[key] = match["name"]
                self.texts.setdefault(key, {})[float(match["value"])] = f"{match['name']}={round_text(match['value'])}"

    def count(self, texts: dict[tuple[str, int], dict[float, str]]) -> int:
        return len({(shape, *(texts[(shape, c)][v] for c, v in enumerate(values))) for shape, values in self.rows})

    def fewest(self, limit: int = MAX_SERIES) -> pd.Series:
        """The labels with the fewest values merged that leave at most ``limit`` of them (or as
        few as binning the swept settings can)."""
        texts = {key: dict(found) for key, found in self.texts.items()}
        current = self.count(texts)
        swept = [key for key, found in texts.items() if len(found) > limit]
        for steps in _LEVELS:
            bins = [(key, lo, hi) for key in swept for lo, hi in _round_bins(np.array(sorted(texts[key])), steps)]
            while current > limit:
                trials = []
                for key, lo, hi in bins:
                    inside = [v for v in texts[key] if lo <= v < hi]
                    text = f"{self.names[key]} {round_text(lo)}–{round_text(hi)}"
                    if len(inside) < 2 or all(texts[key][v] == text for v in inside):
                        continue
                    trial = {**texts, key: {**texts[key], **dict.fromkeys(inside, text)}}
                    trials.append((self.count(trial), trial))
                if not trials:
                    break
                # the merge that reaches the limit with the most series left, else the largest one
                reaching = [found for found in trials if found[0] <= limit]
                current, texts = max(reaching, key=lambda found: found[0]) if reaching else \
                    min(trials, key=lambda found: found[0])
            if current <= limit:
                break

        def text_of(index) -> str:
            values = iter(enumerate(self.values[index]))

            def setting(match: re.Match) -> str:
                column, value = next(values)
                return texts[(self.shapes[index], column)][value]

            return _SETTING.sub(setting, self.labels[index])

        return pd.Series([text_of(index) for index in self.labels.index], index=self.labels.index)


def _round_bins(values: np.ndarray, steps: tuple[float, ...] | None) -> list[tuple[float, float]]:
    """Half-open round bins ``[low, high)`` over ``values``, the last edge above the largest."""
    from matplotlib.ticker import LogLocator, MaxNLocator

    low, high = float(values.min()), float(values.max())
    if low > 0:
        ticks = LogLocator(base=10.0, subs=steps or (1.0,), numticks=1000).tick_values(low / 10, high * 10)
    else:
        ticks = MaxNLocator(nbins=MAX_SERIES if steps else 1, steps=[1, 2, 5, 10]).tick_values(low, high)
        ticks = np.append(ticks, ticks[-1] + (ticks[-1] - ticks[-2]))
    ticks = np.unique(ticks)
    start = ticks[ticks <= low].max()
    stop = ticks[ticks > high].min()
    if steps is None:
        return [(float(start), float(stop))]
    edges = ticks[(ticks >= start) & (ticks <= stop)]
    return [(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def series_order(label: str) -> tuple:
    """A sort key that reads the numbers in a label as numbers: ``w 2–5`` before ``w 10–20``."""
    parts = re.split(r"(\d+(?:\.\d+)?)", label)
    return tuple((0, float(part), "") if index % 2 else (1, 0.0, part) for index, part in enumerate(parts))


def factor_table(runs: pd.DataFrame, metrics: Sequence[str], facets: Sequence[str] = ()) -> pd.DataFrame:
    """Mean of each metric per (series, factor), with the interval bounds where logged: a run's
    own interval, and for a group of seeds the t interval across its seeds (which holds the
    spread between seeds, so that a claim is about the technique, not one draw)."""
    runs = runs.assign(series=series_of(runs, facets))
    groups = runs["is_group"].fillna(False).astype(bool) if "is_group" in runs else pd.Series(False, index=runs.index)
    for metric in metrics:
        for bound in ("low", "high"):
            plain, seed = f"{metric}_ci_{bound}", f"{metric}_seed_ci_{bound}"
            if seed in runs:
                runs[plain] = runs[seed].where(groups, runs[plain] if plain in runs else np.nan)
            elif plain in runs and groups.any():  # a group's mean of its seeds' bounds is no interval
                runs[plain] = runs[plain].where(~groups)
    columns = [m for m in metrics if m in runs]
    columns += [f"{m}_{bound}" for m in metrics for bound in ("ci_low", "ci_high") if f"{m}_{bound}" in runs]
    grouped = runs.groupby(["series", "factor"], dropna=False)[columns]
    table = grouped.mean().reset_index()
    table["runs"] = grouped.size().to_numpy()
    return table


def pareto_mask(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (one column per objective)."""
    values = np.asarray(values, dtype=np.float64)
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    costs = values * signs  # everything minimised
    keep = np.all(np.isfinite(costs), axis=1)
    for i in np.flatnonzero(keep):
        dominated = np.all(costs <= costs[i], axis=1) & np.any(costs < costs[i], axis=1)
        keep[i] = not dominated.any()
    return keep


def pareto_front(data: ReportRuns) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(every run with both objectives, the non-dominated ones sorted by the first) of a
    two-objective report; None for one objective."""
    if len(data.objective.metrics) != 2:
        return None
    x_key, y_key = data.objective.keys
    runs = data.finished
    if x_key not in runs or y_key not in runs:
        return None
    runs = runs[runs[x_key].notna() & runs[y_key].notna()]
    if runs.empty:
        return None
    mask = pareto_mask(runs[[x_key, y_key]].to_numpy(), data.objective.directions)
    return runs, runs[mask].sort_values(x_key)
