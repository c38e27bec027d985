"""The page itself: the tables and figures turned into what ``templates/report.html.j2`` shows.

Jinja2 (which MLflow already brings) renders it with autoescaping on, so a run name or a tag
cannot break the page; the numbers are formatted here, one rule per kind of column.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pandas as pd

from imbexp import names
from imbexp.report._describe import number
from imbexp.report._figures import (
    MORE_FACTOR_PANELS,
    claims_figure,
    draw_against_factor,
    factor_words,
    figure_png,
    pareto_section,
)
from imbexp.report._reliability import reliability_figures
from imbexp.report._runs import ReportRuns, parent_artifacts, progress
from imbexp.report._tables import (
    LEADERBOARD_COLUMNS,
    RUN_TABLE_COLUMNS,
    factor_axis,
    factor_varies,
    leaderboard,
    run_table,
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


def _metric_cell(row: pd.Series, metric: str) -> dict[str, Any]:
    """The mean, with the logged interval for one run or ± the spread over several."""
    runs = int(row.get("runs", 1))
    low, high, sd = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high"), row.get(f"{metric}_sd")
    extra = ""
    if runs == 1 and number(low) is not None and number(high) is not None:
        extra = f"[{fmt(low, metric)}, {fmt(high, metric)}]"
    elif runs > 1 and number(sd) is not None:
        extra = f"± {fmt(sd, metric)}"
    return {"text": fmt(row.get(metric), metric), "extra": extra}


def _heads(texts: Sequence[str], css: str = "") -> list[dict[str, str]]:
    return [{"text": text, "css": css} for text in texts]


def _leaderboard(data: ReportRuns) -> dict[str, Any] | None:
    table = leaderboard(data)
    if table.empty:
        return None
    objective = data.objective.keys[0]
    metrics = [objective] + [metric for metric, _ in LEADERBOARD_COLUMNS if metric in table]
    head = _heads(["strategy"], "text") + _heads(["factor"]) + _heads(data.facets, "text")
    head += _heads(["runs", objective] + [label for metric, label in LEADERBOARD_COLUMNS if metric in table])
    rows = [[_text(row["strategy_label"]), _factor_cell(row), *(_text(row[f]) for f in data.facets),
             {"text": str(int(row["runs"]))}, *(_metric_cell(row, metric) for metric in metrics)]
            for _, row in table.iterrows()]
    return {"head": head, "rows": rows}


def _runs(data: ReportRuns) -> dict[str, Any]:
    runs = run_table(data)
    has_trials = runs["trial"].notna().any()
    objective_keys = [k for k in data.objective.keys if k in runs]
    columns = [metric for metric, _ in RUN_TABLE_COLUMNS if metric in runs]
    head = _heads(["#"] + (["trial"] if has_trials else [])) + _heads(["run", "run id", "status", "strategy"], "text")
    head += _heads(["factor"]) + _heads(data.facets, "text")
    head += _heads(objective_keys + [label for metric, label in RUN_TABLE_COLUMNS if metric in runs])
    rows = []
    for position, (_, row) in enumerate(runs.iterrows(), start=1):
        cells = [{"text": str(position)}] + ([{"text": fmt(row["trial"], "runs")}] if has_trials else [])
        cells += [_text(row["run_name"]), {**_text(row["run_id"]), "code": True}, _text(row["status"]),
                  _text(row["strategy_label"]), _factor_cell(row), *(_text(row[f]) for f in data.facets)]
        cells += [{"text": fmt(row.get(key), key)} for key in objective_keys + columns]
        rows.append({"run_id": row["run_id"], "failed": row["status"] != "FINISHED", "cells": cells})
    return {"count": len(runs), "head": head, "rows": rows}


def _frame(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """Any frame as a table: whole numbers as they are, other numbers to four decimals."""
    columns = [c for c in columns if c in frame]
    rows = [[{"text": fmt(v) if number(v) is not None and not isinstance(v, str) else ("" if v is None else str(v))}
             for v in values] for values in frame[columns].itertuples(index=False)]
    return {"head": _heads(columns), "rows": rows}


def _meta(data: ReportRuns) -> list[str]:
    finished = data.finished
    datasets = ", ".join(f"{d} ({g})" if g else str(d) for d, g in
                         finished[["dataset", "degree"]].drop_duplicates().itertuples(index=False)) or "–"
    models = ", ".join(sorted(finished["model"].dropna().astype(str).unique())) or "–"
    failed = int((data.runs["status"] != "FINISHED").sum())
    objective = ", ".join(f"{k} ({d})" for k, d in zip(data.objective.keys, data.objective.directions, strict=True))
    meta = [f"{len(data.runs)} runs ({failed} not finished)", f"dataset: {datasets}", f"model: {models}",
            f"objective: {objective}", f"experiment: {', '.join(data.experiments)}",
            f"tracking: {redact(data.tracking_uri)}"]
    if data.parent is not None:
        tags = data.parent.data.tags
        meta.insert(0, f"parent run {data.parent.info.run_id} ({data.parent.info.status})")
        meta += [f"{key}: {tags[key]}" for key in PARENT_TAGS if tags.get(key)]
    meta.append(f"written {datetime.now(tz=UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    return meta


def _factor_section(data: ReportRuns, claims_png: bytes | None) -> dict[str, Any] | None:
    finished = data.finished
    if not factor_varies(finished):  # one value of one factor is a point, not a line
        return None
    words = factor_words(factor_axis(finished))
    progress(f"drawing the metrics against the {words}")
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


def render_html(data: ReportRuns, claims_png: bytes | None = None) -> str:
    """The whole page."""
    factor = _factor_section(data, claims_png)
    progress("drawing the reliability curves")
    reliability = [_figure(title, fig, caption) for title, fig, caption in reliability_figures(data)]
    images, tables = parent_artifacts(data)
    return _template().render(
        title=data.title, meta=_meta(data), leaderboard=_leaderboard(data), objective=data.objective.keys[0],
        direction=data.objective.directions[0], factor=factor, reliability=reliability,
        pareto=_pareto(data, images, tables), runs=_runs(data),
        sweep_plots=[_figure(path, png, path) for path, png in images if "pareto" not in path.lower()])
