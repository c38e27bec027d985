"""The page itself: the tables and figures turned into what ``templates/report.html.j2`` shows.

Jinja2 (which MLflow already brings) renders it with autoescaping on, so a run name or a tag
cannot break the page; the numbers are formatted here, one rule per kind of column.
"""

from __future__ import annotations

import base64
import dataclasses
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pandas as pd

from imbexp import intervals, names
from imbexp.report import _multiclass as multiclass
from imbexp.report._decision import decision_curves, decision_figure
from imbexp.report._describe import number
from imbexp.report._figures import (
    MORE_FACTOR_PANELS,
    claims_figure,
    draw_against_factor,
    factor_words,
    figure_png,
    pareto_section,
)
from imbexp.report._reliability import _pick_by_objective, choose_runs, reliability_figures
from imbexp.report._runs import ReportRuns, parent_artifacts, progress, read_predictions
from imbexp.report._tables import (
    CALIBRATION_COLUMNS,
    COMPARISONS,
    DELTA_COLUMNS,
    SEED_METHOD,
    delta_columns,
    delta_of,
    factor_axis,
    factor_varies,
    leaderboard,
    leaderboard_columns,
    run_table,
    run_table_columns,
    verdict_words,
)
from imbexp.tracking import redact

#: parameters of the sweep's parent run shown in the page's header line
PARENT_TAGS = (names.STUDY_NAME_TAG, names.SWEEP_TAG, names.OVERRIDES_TAG)


@cache
def _template():
    import jinja2

    environment = jinja2.Environment(loader=jinja2.PackageLoader("imbexp.report", "templates"),
                                     autoescape=True, keep_trailing_newline=True)
    return environment.get_template("report.html.j2")


def fmt(value: Any, metric: str = "") -> str:
    """A number as its column shows it: counts with thousands separators, the factor as given,
    seconds to 1/100, tiny values in scientific notation, everything else to four decimals."""
    value = number(value)
    if value is None:
        return "–"
    if metric in ("train_rows", "runs"):
        return f"{value:,.0f}"
    if metric == "factor" or (not metric and value.is_integer()):
        return f"{value:g}"
    if metric == "fit_seconds":
        return f"{value:.2f}"
    if abs(value) != 0 and abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4f}"


def _figure(title: str, fig_or_png: Any, caption: str = "") -> dict[str, str]:
    png = fig_or_png if isinstance(fig_or_png, bytes) else figure_png(fig_or_png)
    return {"title": title, "png": base64.b64encode(png).decode("ascii"), "caption": caption}


def _text(value: Any) -> dict[str, Any]:
    return {"text": "" if value is None else str(value), "css": "text"}


def _factor_cell(row: pd.Series) -> dict[str, Any]:
    """The factor, its parameter's name on hover (strategies differ in what their factor is)."""
    if pd.isna(row["factor"]):
        return {"text": "–"}
    return {"text": fmt(row["factor"], "factor"), "title": row.get("factor_name")}


def _metric_cell(row: pd.Series, metric: str,
                 interval_metrics: Sequence[str] = intervals.INTERVAL_METRICS) -> dict[str, Any]:
    """The mean, with the logged interval for one run, the mean ± sd and t interval across the
    seeds of a group, or ± the spread over several runs; a run that logged no intervals says
    why instead (on hover; the reason is also under the table)."""
    runs = int(row.get("runs", 1))
    value = row.get(metric)
    sd = row.get(f"{metric}_sd")
    cell: dict[str, Any] = {"text": fmt(value, metric)}
    if runs == 1 and row.get("is_group"):
        low, high = row.get(f"{metric}_seed_ci_low"), row.get(f"{metric}_seed_ci_high")
        parts = [f"± {fmt(sd, metric)}" if number(sd) is not None else "",
                 _bracket(low, high, metric)]
        cell["extra"] = " ".join(part for part in parts if part)
    elif runs == 1:
        low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
        if number(low) is not None and number(high) is not None:
            cell["extra"] = _bracket(low, high, metric)
        elif (_has_interval(metric, interval_metrics) and isinstance(row.get("no_intervals"), str)
              and number(value) is not None):
            cell.update(extra="no interval", extra_css="ci missing", title=row["no_intervals"])
    elif number(sd) is not None:
        cell["extra"] = f"± {fmt(sd, metric)}"
    return cell


def _bracket(low: Any, high: Any, metric: str) -> str:
    if number(low) is None or number(high) is None:
        return ""
    return f"[{fmt(low, metric)}, {fmt(high, metric)}]"


def _has_interval(metric: str, interval_metrics: Sequence[str] = intervals.INTERVAL_METRICS) -> bool:
    return metric.removeprefix("test_") in interval_metrics and metric.startswith("test_")


def signed(values: Sequence[float], width: float | None = None) -> list[str]:
    """Deltas with their sign, to as many decimals as show ``width`` (by default the values'
    range: an interval's) in two digits (``+0.031``, ``-0.0012``), at least three."""
    finite = [v for v in values if number(v) is not None]
    if width is None:
        width = max(finite) - min(finite) if len(finite) > 1 else abs(finite[0]) if finite else 0.0
    decimals = 3 if not width or not math.isfinite(width) or width <= 0 else \
        min(6, max(3, math.ceil(-math.log10(width)) + 1))
    return [f"{v:+.{decimals}f}" if number(v) is not None else "–" for v in values]


def _delta_cell(row: pd.Series, metric: str, suffix: str) -> dict[str, Any]:
    """``+0.031 [+0.011, +0.059]`` and the verdict of one run (or group); for several runs their
    mean ± sd and how many of them said what; ``baseline`` on the runs the others were compared with."""
    if row.get(f"reference{suffix}"):
        return {"text": "baseline" if not suffix else "reference", "css": "text reference"}
    delta = delta_of(row, metric, suffix)
    if delta is None:
        return {"text": "–"}
    verdicts = row.get(f"verdicts_{metric}{suffix}") or []
    word = verdict_words(verdicts)
    cell: dict[str, Any] = {"verdict": word, "verdict_css": "verdict " + word.split(" ")[0].split(":")[0]}
    if int(row.get("runs", 1)) == 1:
        value, low, high = signed([delta.value, delta.low, delta.high])
        cell.update(text=value, extra=f"[{low}, {high}]" if number(delta.low) is not None else "",
                    extra_css="ci delta")
        if number(delta.p) is not None:
            cell["title"] = f"p = {delta.p:.3g}"
    else:
        sd = number(row.get(f"test_{metric}_delta{suffix}_sd"))
        value, spread = signed([delta.value, float("nan") if sd is None else sd], width=None if sd is None else 2 * sd)
        cell.update(text=value, extra=f"± {spread.lstrip('+')}" if sd is not None else "",
                    extra_css="ci delta")
    return cell


def _runs_cell(row: pd.Series, data: ReportRuns) -> dict[str, Any]:
    runs, seeds = int(row["runs"]), number(row.get("seeds"))
    if seeds is None:
        return {"text": str(runs)}
    if runs == 1:
        ids = ", ".join(data.seeds_of(row["run_ids"][0])["run_id"])
        return {"text": f"{seeds:g} seeds", "title": f"seed runs: {ids}"}
    return {"text": f"{runs} ({seeds:g} seeds)"}


def _heads(texts: Sequence[str], css: str = "") -> list[dict[str, str]]:
    return [{"text": text, "css": css} for text in texts]


def _row_label(row: pd.Series) -> str:
    factor = "" if pd.isna(row["factor"]) else f" {row.get('factor_name') or 'f'}={fmt(row['factor'], 'factor')}"
    return f"{row['strategy_label']}{factor}"


def _leaderboard(data: ReportRuns, table: pd.DataFrame) -> dict[str, Any] | None:
    if table.empty:
        return None
    objective = data.objective.keys[0]
    columns, deltas = leaderboard_columns(data.finished), delta_columns(data.finished)
    if multiclass.any_multiclass(data.finished):
        interval_metrics, delta_methods, methods = multiclass.interval_methods()
    else:
        interval_metrics, delta_methods, methods = intervals.INTERVAL_METRICS, intervals.DELTA_METHODS, \
            intervals.method_summary()
    metrics = [objective] + [metric for metric, _ in columns if metric in table]
    comparisons = [(suffix, words) for suffix, _, words in COMPARISONS if f"reference{suffix}" in table]
    head = _heads(["strategy"], "text") + _heads(["factor"]) + _heads(data.facets, "text")
    head += _heads(["runs", objective])
    head += _heads([f"{label} {words}" for suffix, words in comparisons for _, label in deltas])
    head += _heads([label for metric, label in columns if metric in table])
    rows = []
    for _, row in table.iterrows():
        cells = [_text(row["strategy_label"]), _factor_cell(row), *(_text(row[f]) for f in data.facets),
                 _runs_cell(row, data), _metric_cell(row, objective, interval_metrics)]
        cells += [_delta_cell(row, metric, suffix) for suffix, _ in comparisons for metric, _ in deltas]
        cells += [_worst_cell(row) if metric == "test_recall_worst" else _metric_cell(row, metric, interval_metrics)
                  for metric in metrics[1:]]
        rows.append(cells)
    missing = [(_row_label(row), row["no_intervals"]) for _, row in table.iterrows()
               if isinstance(row.get("no_intervals"), str)]
    return {"head": head, "rows": rows, "deltas": _delta_legend(comparisons, deltas, delta_methods), "methods": methods,
            "no_intervals": missing, "groups": bool(table["is_group"].any())}


def _worst_cell(row: pd.Series) -> dict[str, Any]:
    """The worst class's recall and, beside it, which class that is."""
    cell = _metric_cell(row, "test_recall_worst")
    if row.get("worst_class") and number(row.get("test_recall_worst")) is not None:
        cell["extra"] = " ".join(part for part in (cell.get("extra"), f"({row['worst_class']})") if part)
        cell.setdefault("extra_css", "class")
    return cell


def _per_class(data: ReportRuns, table: pd.DataFrame) -> list[dict[str, Any]]:
    """A table per per-class metric (prediction bias, recall): a row per leaderboard row, a
    column per class."""
    classes = multiclass.classes_of(data.finished)
    tables = []
    for prefix, title in multiclass.PER_CLASS:
        columns = [(f"{prefix}_{multiclass.class_key(label)}", label) for label in classes
                   if f"{prefix}_{multiclass.class_key(label)}" in table]
        if table.empty or not columns:
            continue
        head = _heads(["strategy"], "text") + _heads(["factor"]) + _heads(data.facets, "text")
        head += _heads(["runs", *(label for _, label in columns)])
        rows = [[_text(row["strategy_label"]), _factor_cell(row), *(_text(row[f]) for f in data.facets),
                 _runs_cell(row, data), *(_metric_cell(row, metric) for metric, _ in columns)]
                for _, row in table.iterrows()]
        tables.append({"title": title, "head": head, "rows": rows})
    return tables


def _delta_legend(comparisons: Sequence[tuple[str, str]], columns: Sequence[tuple[str, str]] = DELTA_COLUMNS,
                  delta_methods: dict[str, str] = intervals.DELTA_METHODS) -> str:
    """One line on what the Δ columns are and how their intervals were made."""
    if not comparisons:
        return ""
    methods = "; ".join(f"{label.removeprefix('Δ ')}: {intervals.METHOD_WORDS.get(delta_methods.get(m, ''), '?')}"
                        for m, label in columns)
    against = {"": "its baseline (strategy none, the same data, model, split and seed)",
               "_vs_factor1": "the same strategy at factor 1"}
    compared = " and ".join(f"{words}: the configuration minus {against[suffix]}" for suffix, words in comparisons)
    return (f"Δ {compared}, on the same test rows, with its paired 95 % interval ({methods}); for a group of "
            f"seeds, the mean of its seeds' deltas with a {SEED_METHOD}. Verdict at 95 %: better, worse or no "
            "detectable difference (prediction bias, which has no better sign: higher or lower).")


def _calibration(data: ReportRuns, table: pd.DataFrame) -> dict[str, Any] | None:
    """The calibration metrics beyond ECE and bias, per leaderboard row, where the runs logged them."""
    columns = [(metric, label) for metric, label in CALIBRATION_COLUMNS if metric in table]
    if table.empty or not columns:
        return None
    head = _heads(["strategy"], "text") + _heads(["factor"]) + _heads(data.facets, "text")
    head += _heads(["runs", *(label for _, label in columns)])
    rows = [[_text(row["strategy_label"]), _factor_cell(row), *(_text(row[f]) for f in data.facets),
             _runs_cell(row, data), *(_metric_cell(row, metric) for metric, _ in columns)]
            for _, row in table.iterrows()]
    return {"head": head, "rows": rows}


def _runs(data: ReportRuns) -> dict[str, Any]:
    """Every run; a group of seeds followed by its seed runs."""
    runs = run_table(data)
    has_trials = runs["trial"].notna().any()
    objective_keys = [k for k in data.objective.keys if k in runs]
    table_columns = run_table_columns(runs)
    columns = [metric for metric, _ in table_columns if metric in runs]
    head = _heads(["#"] + (["trial"] if has_trials else [])) + _heads(["run", "run id", "status", "strategy"], "text")
    head += _heads(["factor"]) + _heads(data.facets, "text")
    head += _heads(objective_keys + [label for metric, label in table_columns if metric in runs])

    def cells_of(row: pd.Series, position: str, name: str) -> list[dict[str, Any]]:
        cells = [{"text": position}] + ([{"text": fmt(row.get("trial"), "runs")}] if has_trials else [])
        status = row["status"] + (" · infeasible" if row.get(f"tags.{names.FEASIBLE_TAG}") == "false" else "")
        cells += [_text(name), {**_text(row["run_id"]), "code": True}, _text(status),
                  _text(row["strategy_label"]), _factor_cell(row), *(_text(row.get(f)) for f in data.facets)]
        return cells + [{"text": fmt(row.get(key), key)} for key in objective_keys + columns]

    rows = []
    for position, (_, row) in enumerate(runs.iterrows(), start=1):
        name = row["run_name"] + (f" ({fmt(row['seeds'], 'runs')} seeds)" if row.get("is_group") else "")
        rows.append({"run_id": row["run_id"], "css": "failed" if row["status"] != "FINISHED" else "",
                     "cells": cells_of(row, str(position), name)})
        if row.get("is_group"):
            for _, seed in data.seeds_of(row["run_id"]).iterrows():
                repeat = "" if pd.isna(seed["repeat"]) else f"seed {seed['repeat']:g}: "
                rows.append({"run_id": seed["run_id"], "css": "seed failed" if seed["status"] != "FINISHED" else "seed",
                             "cells": cells_of(seed, "", f"↳ {repeat}{seed['run_name']}")})
    count = len(runs) + (len(data.seeds) if not data.seeds.empty else 0)
    return {"count": count, "head": head, "rows": rows}


def _frame(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """Any frame as a table: whole numbers as they are, other numbers to four decimals."""
    columns = [c for c in columns if c in frame]
    rows = [[{"text": fmt(v) if number(v) is not None and not isinstance(v, str) else ("" if v is None else str(v))}
             for v in values] for values in frame[columns].itertuples(index=False)]
    return {"head": _heads(columns), "rows": rows}


def _meta(data: ReportRuns) -> list[str]:
    finished = data.finished
    shares = finished.get("dataset_minority_fraction")

    share_words = "of the smallest class" if multiclass.any_multiclass(finished) else "positives"

    def described(dataset: str, degree: str) -> str:  # the label beside the share it came from
        share = None if shares is None else shares[finished["dataset"] == dataset].dropna()
        share_text = f"{share.iloc[0]:.2%} {share_words}, " if share is not None and len(share) else ""
        return f"{dataset} ({share_text}{degree})" if degree else str(dataset)

    datasets = ", ".join(described(d, g) for d, g in
                         finished[["dataset", "degree"]].drop_duplicates().itertuples(index=False)) or "–"
    models = ", ".join(sorted(finished["model"].dropna().astype(str).unique())) or "–"
    failed = int((data.runs["status"] != "FINISHED").sum())
    objective = ", ".join(f"{k} ({d})" for k, d in zip(data.objective.keys, data.objective.directions, strict=True))
    pruned_column = f"tags.{names.PRUNED_TAG}"  # a sweep's pruner stopped them: not finished, not failed
    pruned = int((data.runs[pruned_column] == "true").sum()) if pruned_column in data.runs else 0
    runs = f"{len(data.runs)} runs ({failed} not finished{f', {pruned} of them pruned' if pruned else ''})"
    if not data.seeds.empty:
        runs += f", {int(data.runs['is_group'].sum())} of them groups of {len(data.seeds)} seed runs in all"
    classes = multiclass.classes_of(finished)
    meta = [runs, f"dataset: {datasets}", *([f"classes: {', '.join(classes)}"] if classes else []),
            f"model: {models}",
            f"objective: {objective}", f"experiment: {', '.join(data.experiments)}",
            f"tracking: {redact(data.tracking_uri)}"]
    if data.parent is not None:
        tags = data.parent.data.tags
        meta.insert(0, f"parent run {data.parent.info.run_id} ({data.parent_status or data.parent.info.status})")
        meta += [f"{key}: {tags[key]}" for key in PARENT_TAGS if tags.get(key)]
    meta.append(f"written {datetime.now(tz=UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    return meta


def _factor_section(data: ReportRuns, claims_png: bytes | None) -> dict[str, Any] | None:
    finished = data.finished
    if not factor_varies(finished):  # one value of one factor is a point, not a line
        return None
    words = factor_words(factor_axis(finished))
    progress(f"drawing the metrics against the {words}")
    if multiclass.any_multiclass(finished):  # one figure of the multi-class panels (claims_figure's)
        claims = claims_png or _png_or_none(claims_figure(finished, data.facets))
        return {"words": words, "multiclass": True, "more": None,
                "claims": _figure("multi-class metrics against the factor", claims) if claims else None}
    claims = claims_png or _png_or_none(claims_figure(finished, data.facets))
    more = draw_against_factor(finished, MORE_FACTOR_PANELS, data.facets, cols=3)
    return {"words": words, "claims": _figure("claims", claims) if claims else None,
            "more": _figure("more metrics against the factor", more, f"More metrics against the {words}.")
            if more is not None else None}


def _png_or_none(fig) -> bytes | None:
    return None if fig is None else figure_png(fig, dpi=100)


def _pareto(data: ReportRuns, images: list[tuple[str, bytes]],
            tables: list[tuple[str, pd.DataFrame]]) -> dict[str, Any] | None:
    pareto_fig, front = pareto_section(data)
    pareto_images = [_figure(path, png, f"Logged by the sweep: {path}") for path, png in images
                     if "pareto" in path.lower()]
    if pareto_fig is None and not pareto_images and not tables:
        return None
    section: dict[str, Any] = {"images": pareto_images,
                               "tables": [(path, _frame(table, table.columns)) for path, table in tables]}
    if pareto_fig is not None:
        section["figure"] = _figure("pareto front", pareto_fig)
        section["front"] = _frame(front, ["run_name", "run_id", "strategy_label", "factor", *data.objective.keys])
    return section


def _best_multiclass(data: ReportRuns) -> dict[str, Any] | None:
    """The per-class figures of the best multi-class run by the objective, from its test predictions."""
    runs = data.finished[multiclass.is_multiclass(data.finished)]
    if runs.empty:
        return None
    best = _pick_by_objective(runs, data.objective)
    drawn = data.representative(best)  # a group of seeds: its first seed's predictions
    frames = read_predictions(data.tracking_uri, {drawn["run_id"]: drawn["artifact_uri"]})
    progress("drawing the confusion matrices and class-wise reliability of the best run")
    seed = "" if drawn is best else ", its first seed's predictions"
    figures = multiclass.best_run_figures(best if drawn is best else drawn.combine_first(best),
                                          frames.get(drawn["run_id"]), name=f"{_row_label(best)}{seed}")
    return {"run": _row_label(best), "run_id": best["run_id"], "figures": [_figure(*found) for found in figures]}


def _binary_only(data: ReportRuns) -> ReportRuns:
    """The report's binary runs: the binary figures read each run's ``y_score``."""
    if not multiclass.any_multiclass(data.runs):
        return data
    return dataclasses.replace(data, runs=data.runs[~multiclass.is_multiclass(data.runs)])


def render_html(data: ReportRuns, claims_png: bytes | None = None) -> str:
    """The whole page."""
    factor = _factor_section(data, claims_png)
    table = leaderboard(data)
    reliability, decision = [], None
    binary = _binary_only(data)
    if not binary.finished.empty:
        chosen = choose_runs(binary)
        frames = read_predictions(binary.tracking_uri, chosen.artifact_uris())
        progress("drawing the reliability curves and the decision curve")
        reliability = [_figure(*found) for found in reliability_figures(binary, chosen, frames)]
        found = decision_figure(*decision_curves(chosen.best, frames), chosen.palette)
        decision = _figure(*found) if found is not None else None
    images, tables = parent_artifacts(data)
    return _template().render(
        title=data.title, meta=_meta(data), leaderboard=_leaderboard(data, table), objective=data.objective.keys[0],
        direction=data.objective.directions[0], factor=factor, reliability=reliability,
        calibration=_calibration(data, table), decision=decision, per_class=_per_class(data, table),
        best_multiclass=_best_multiclass(data),
        pareto=_pareto(data, images, tables), runs=_runs(data),
        sweep_plots=[_figure(path, png, path) for path, png in images if "pareto" not in path.lower()])
