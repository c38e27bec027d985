"""Writing a report to disk (and to its sweep's parent run), and ``python -m imbexp.report``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from imbexp._paths import runs_dir, sqlite_file
from imbexp.errors import ImbexpError
from imbexp.report._figures import claims_figure, figure_png
from imbexp.report._html import render_html
from imbexp.report._runs import ReportError, default_tracking_uri, load_runs, progress
from imbexp.tracking import quiet_downloads

#: ``--claims-figure`` without a path: the figure is written beside the report, under runs/
_BESIDE_THE_REPORT = Path("<beside the report>")


def reports_dir(tracking_uri: str) -> Path:
    """``reports/`` next to a SQLite store (``runs/reports``), else under the project's ``runs/``."""
    db = sqlite_file(tracking_uri)
    return (db.parent if db is not None else runs_dir()) / "reports"


def write_report(tracking_uri: str | None = None, parent_run_id: str | None = None, experiment: str | None = None,
                 *, output: Path | None = None, claims_png: Path | None = None,
                 log_to_parent: bool = True, parent_status: str | None = None) -> Path:
    """Build the HTML report of a sweep's parent run or of an experiment and return its path.

    Written to ``runs/reports/<name>.html`` (or ``output``) and, for a parent run, logged to it
    as ``report/<name>.html``. ``claims_png`` also saves the claims figure there. ``parent_status``
    is the status a sweep closes its parent run with after the report (shown instead of RUNNING).
    """
    tracking_uri = tracking_uri or default_tracking_uri()
    with quiet_downloads():
        data = load_runs(tracking_uri, parent_run_id, experiment)
        if parent_status is not None:  # the sweep closes its parent with this status right after
            data = dataclasses.replace(data, parent_status=parent_status)
        path = Path(output) if output is not None else reports_dir(tracking_uri) / f"{data.name}.html"
        if claims_png is not None and Path(claims_png) == _BESIDE_THE_REPORT:
            claims_png = path.with_name(f"{path.stem}-claims.png")
        figure_bytes = None if claims_png is None else _save_claims_figure(data, Path(claims_png))
        page = render_html(data, figure_bytes)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
        if data.parent is not None and log_to_parent:
            data.client.log_artifact(data.parent.info.run_id, str(path), "report")
    progress(f"report written to {path}")
    return path


def _save_claims_figure(data, path: Path) -> bytes:
    figure = claims_figure(data.finished, data.facets) if data.finished["factor"].notna().any() else None
    if figure is None:
        raise ReportError("the runs have no strategy factor (tag imbexp.factor_name), so there is no claims figure "
                          "to draw; run the preset: python -m imbexp sweep=claims.")
    figure_bytes = figure_png(figure, dpi=100)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(figure_bytes)
    progress(f"claims figure written to {path}")
    return figure_bytes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m imbexp.report",
        description="Turn an MLflow experiment or a sweep's parent run into one self-contained HTML page.")
    parser.add_argument("--experiment", help="report every run of this MLflow experiment (or scope --run latest)")
    parser.add_argument("--run", dest="run_id", metavar="PARENT_RUN_ID",
                        help="report the child runs of this sweep parent run; 'latest' = the newest sweep")
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: sqlite:///<project root>/runs/mlflow.db)")
    parser.add_argument("--output", type=Path, default=None,
                        help="HTML file to write (default: runs/reports/<name>.html)")
    parser.add_argument("--claims-figure", type=Path, nargs="?", const=_BESIDE_THE_REPORT, default=None,
                        metavar="PNG", help="also save the six-panel claims figure: to this PNG, or without a "
                                            "path beside the report (runs/reports/<name>-claims.png)")
    parser.add_argument("--no-log", action="store_true", help="do not log the report to the parent run")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m imbexp.report``; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        path = write_report(args.tracking_uri, args.run_id, args.experiment, output=args.output,
                            claims_png=args.claims_figure, log_to_parent=not args.no_log)
    except ImbexpError as exc:
        print(f"imbexp report: error: {exc}", file=sys.stderr, flush=True)
        return 2
    print(path)
    return 0
