"""``python -m imbexp.benchmark suite=NAME [overrides]``: run a suite, then write its report.

The runs are one grid of imbexp's own sweeper (``python -m imbexp -m suite=NAME ...``, started as a
child process so that everything a sweep does applies: ``hydra.sweeper.n_jobs`` worker processes,
a shared ``storage`` and ``tracking.uri`` for several machines, the progress line per run, the
comparison with the baseline at the end). The grid is a study: running the command again runs only
the points that are missing, then writes the report of everything the experiment holds.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from imbexp import names
from imbexp._paths import config_dir
from imbexp.errors import ConfigError, ImbexpError, exit_with

#: an override's value that only a sweep reads (choice(...), a, b): not composed here
_SWEEP_VALUE = re.compile(r"^\s*(choice|range|interval|tag)\(|,")


def presets() -> list[str]:
    return sorted(p.stem for p in (config_dir() / "suite").glob("*.yaml"))


def _suite_name(overrides: list[str]) -> str:
    given = [o.split("=", 1)[1] for o in overrides if o.lstrip("+").startswith("suite=")]
    if not given:
        raise ConfigError(f"suite is not given; use suite=NAME with NAME one of {', '.join(presets())}.")
    name = given[-1]
    if name not in presets():
        raise ConfigError(f"suite={name} is not a suite preset; use one of {', '.join(presets())}.")
    return name


def compose(overrides: list[str]) -> Any:
    """The suite's config (with Hydra's), from the overrides a single config can take."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    import imbexp  # noqa: F401  (registers the ${imbexp.root:} resolver)
    from imbexp._compat import VERSION_BASE

    single = [o for o in overrides if "=" in o and not _SWEEP_VALUE.search(o.split("=", 1)[1])]
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config_dir()), **VERSION_BASE):
        return hydra_compose("config", single, return_hydra_config=True)


def run_grid(overrides: list[str]) -> int:
    """The suite's runs: ``python -m imbexp -m <overrides>``; its exit code."""
    command = [sys.executable, "-m", "imbexp", "-m", *overrides]
    print(f"[suite] {' '.join(command[1:])}", flush=True)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:  # the child got the same Ctrl-C and closes its runs itself
        return 130


def parent_run_id(cfg: Any) -> str | None:
    """The grid's MLflow parent run, recorded in its Optuna study (None before the first run)."""
    from imbexp.sweeping import _study

    settings = cfg.hydra.sweeper
    storage = _study.open_storage(settings.get("storage"))
    try:
        study_id = storage.get_study_id_from_name(str(settings.study_name))
    except KeyError:
        return None
    value = storage.get_study_user_attrs(study_id).get(names.STUDY_PARENT_RUN_ATTR)
    return str(value) if value else None


def write_suite_report(cfg: Any, output: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """Read the suite's experiment, test it, write the page and ``<page>.json``, and log both
    to the grid's parent run. Returns the page's path and the summary."""
    from mlflow.tracking import MlflowClient

    from imbexp import tracking
    from imbexp.benchmark import _html, _results, _stats
    from imbexp.report import reports_dir

    suite = cfg.suite
    metrics, baseline, alpha = [str(m) for m in suite.metrics], str(suite.baseline), float(suite.get("alpha", 0.05))
    uri, experiment = str(cfg.tracking.uri), tracking.default_experiment(cfg)
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ImbexpError(f"experiment {experiment!r} does not exist in {tracking.redact(uri)}; run the suite first "
                          f"(python -m imbexp.benchmark suite={suite.name}).")
    started = time.monotonic()
    frame = _results.load_suite_runs(client, found.experiment_id, metrics)
    _results.require_runs(frame, experiment)
    print(f"[suite] report: {len(frame)} runs, {frame['dataset'].nunique()} datasets", flush=True)
    results = [_stats.analyse(frame, model, metric, baseline, alpha)
               for model in sorted(frame["model"].unique()) for metric in metrics]
    page = _html.render(str(suite.name), experiment, frame, results, metrics, baseline, alpha)
    path = Path(output) if output else reports_dir(uri) / f"suite-{suite.name}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    summary = {"suite": str(suite.name), "experiment": experiment, "runs": len(frame), "baseline": baseline,
               "alpha": alpha, "results": [r.summary() for r in results]}
    parent = parent_run_id(cfg)
    if parent is not None:
        summary["parent_run_id"] = parent
    summary_path = path.with_suffix(".json")
    summary_path.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    if parent is not None:
        client.log_artifact(parent, str(path), "benchmark")
        client.log_artifact(parent, str(summary_path), "benchmark")
    for line in console_lines(results):
        print(line, flush=True)
    where = f"; logged to parent run {parent}" if parent else ""
    print(f"[suite] report written to {path} ({time.monotonic() - started:.0f} s){where}", flush=True)
    return path, summary


def console_lines(results: list[Any]) -> list[str]:
    lines = []
    for r in results:
        if not r.mean_ranks:
            lines.append(f"  {r.model} · {r.metric}: {r.note}")
            continue
        ranks = ", ".join(f"{s} {v:.2f}" for s, v in sorted(r.mean_ranks.items(), key=lambda item: item[1]))
        p = f"{r.friedman_p:.3g}" if math.isfinite(r.friedman_p) else "-"
        lines.append(f"  {r.model} · {r.metric} ({len(r.datasets)} sets): mean ranks {ranks}; {r.omnibus} p {p}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m imbexp.benchmark",
        description="Run a suite (strategies x models x datasets x seeds) and write its cross-dataset report.")
    parser.add_argument("overrides", nargs="*", help="suite=NAME and any imbexp overrides, e.g. hydra.sweeper.n_jobs=2")
    parser.add_argument("--report-only", action="store_true", help="write the report of the runs already made")
    parser.add_argument("--output", type=Path, help="the HTML page's path (default runs/reports/suite-NAME.html)")
    args = parser.parse_args(argv)
    try:
        name = _suite_name(args.overrides)
        cfg = compose(args.overrides)
        if not args.report_only:
            code = run_grid(args.overrides)
            if code in (2, 130, 143):  # the user's mistake (said by the grid) or a stop: no report
                sys.exit(code)
            if code != 0:
                print(f"[suite] the grid exited with code {code}; reporting the runs that finished", flush=True)
        write_suite_report(cfg, args.output)
    except ImbexpError as exc:
        exit_with(exc)
    except Exception as exc:  # Hydra's composition errors: the override is the user's
        from hydra.errors import HydraException

        if isinstance(exc, HydraException):
            exit_with(f"suite={name if 'name' in locals() else '?'}: {str(exc).splitlines()[0]}")
        raise
