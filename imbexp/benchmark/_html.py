"""The cross-dataset report as one self-contained HTML page (diagrams embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable

import pandas as pd

from imbexp.benchmark._stats import MetricResult, dataset_verdicts

METHODS = (
    "<ul>"
    "<li><b>Mean rank</b>: each dataset ranks the strategies by the metric's mean over seeds (1 = best, ties "
    "averaged); the mean over the datasets where every strategy finished. autorank 1.x.</li>"
    "<li><b>Friedman test</b> over those datasets (autorank, nonparametric mode; scipy's friedmanchisquare). "
    "With two strategies autorank's omnibus is the Wilcoxon signed-rank test.</li>"
    "<li><b>Nemenyi post-hoc test</b> and its <b>critical difference</b> (CD): two strategies whose mean ranks "
    "differ by less than the CD are not distinguishable at the suite's alpha. The CD diagram is autorank's "
    "plot_stats: a bar joins strategies that are not.</li>"
    "<li><b>Against the baseline</b>: the Wilcoxon signed-rank test of each strategy against the baseline over "
    "the datasets (autorank on the two columns), its p-value Holm-adjusted over the strategies "
    "(statsmodels multipletests, method holm). <b>Effect size</b>: Akinshin's gamma from autorank (a robust "
    "standardised difference; negligible / small / medium / large as autorank words it), signed so that &gt; 0 "
    "favours the strategy.</li>"
    "<li><b>Win / tie / loss</b>: per dataset, the mean of the per-seed paired deltas (strategy minus baseline on "
    "the same test rows: compare.py's <code>test_&lt;m&gt;_delta</code>, or the difference of the two runs' "
    "test values where too few test positives gave no interval) with the 95 % t interval across seeds "
    "(imbexp.intervals.seed_interval). With one seed: the run's paired 95 % interval from compare.py, or "
    "<i>untested</i> without one. A win is an interval wholly on the better side of 0.</li>"
    "</ul>"
)


def _e(value: object) -> str:
    return html.escape(str(value))


def _number(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float | int) and math.isfinite(value) else "-"


def _p(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:.2e}" if value < 1e-3 else f"{value:.3f}"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _metric_section(result: MetricResult, baseline: str, alpha: float) -> str:
    better = "lower is better" if result.lower_is_better else "higher is better"
    parts = [f"<h3>{_e(result.model)} · {_e(result.metric)} <small>({better})</small></h3>"]
    if not result.mean_ranks:
        return "".join(parts) + f"<p>{_e(result.note)}</p>"
    significant = "significant" if result.friedman_p < alpha else "not significant"
    parts.append(f"<p>{len(result.datasets)} datasets. {_e(result.omnibus.title())} test p = {_p(result.friedman_p)} "
                 f"({significant} at alpha {alpha}); post-hoc: {_e(result.posthoc)}, critical difference "
                 f"{_number(result.critical_difference, 3)} ranks.</p>")
    if result.excluded:
        parts.append("<p class=note>Not ranked (a strategy did not finish there): "
                     f"{_e(', '.join(result.excluded))}</p>")
    pairwise = {p.strategy: p for p in result.pairwise}
    rows = []
    for strategy, rank in sorted(result.mean_ranks.items(), key=lambda item: item[1]):
        p = pairwise.get(strategy)
        if p is None:
            rows.append([_e(strategy), _number(rank, 2), "baseline" if strategy == baseline else "-", "", "", "", "",
                         "", ""])
            continue
        rows.append([_e(strategy), _number(rank, 2), f"{p.median_delta:+.4f}", f"{p.mean_delta:+.4f}", _p(p.p),
                     _p(p.p_holm), f"{p.effect_size:+.2f} ({_e(p.magnitude)})",
                     f"{p.wins} / {p.ties} / {p.losses}", str(p.untested)])
    parts.append(_table(["strategy", "mean rank", f"median delta vs {baseline}", "mean delta", "Wilcoxon p",
                         "Holm p", "effect size (gamma)", "win / tie / loss", "untested"], rows))
    if result.cd_png:
        encoded = base64.b64encode(result.cd_png).decode()
        parts.append(f'<p><img alt="critical-difference diagram" src="data:image/png;base64,{encoded}"></p>')
    return "".join(parts)


def _dataset_facts(row: pd.Series) -> str:
    """``imbalance ratio 99.0 · 8000 rows · 80 positives``, or for a multi-class dataset
    ``4 classes · 8000 rows · smallest class 2.5 %``; a fact the runs did not log is left out."""
    parts = []
    classes = row.get("classes", math.nan)
    if pd.notna(classes) and classes > 2 or pd.isna(row.get("positives", math.nan)):
        if pd.notna(classes):
            parts.append(f"{classes:.0f} classes")
        if pd.notna(row.get("rows", math.nan)):
            parts.append(f"{row['rows']:.0f} rows")
        if pd.notna(row.get("minority_fraction", math.nan)):
            parts.append(f"smallest class {100 * row['minority_fraction']:.3g} %")  # 0.005 %, not 0.01 %
    else:
        if pd.notna(row.get("imbalance_ratio", math.nan)):
            parts.append(f"imbalance ratio {row['imbalance_ratio']:.1f}")
        if pd.notna(row.get("rows", math.nan)):
            parts.append(f"{row['rows']:.0f} rows")
        parts.append(f"{row['positives']:.0f} positives")
    return " · ".join(parts)


def _dataset_tables(frame: pd.DataFrame, metrics: list[str], baseline: str) -> str:
    parts = []
    verdicts = {(model, metric): dataset_verdicts(frame, model, metric, baseline).set_index(["dataset", "strategy"])
                for model in sorted(frame["model"].unique()) for metric in metrics}
    columns = [c for c in ("imbalance_ratio", "rows", "positives", "classes", "minority_fraction") if c in frame]
    info = frame.groupby("dataset")[columns].first()
    if "minority_fraction" in info:  # the most imbalanced last, binary or multi-class alike
        info = info.sort_values("minority_fraction", ascending=False, na_position="last")
    for dataset, row in info.iterrows():
        parts.append(f"<h3>{_e(dataset)} <small>{_dataset_facts(row)}</small></h3>")
        table_rows = []
        here = frame[frame["dataset"] == dataset]
        for (model, strategy), group in here.groupby(["model", "strategy"]):
            cells = [_e(model), _e(strategy), str(group["seed"].nunique())]
            for metric in metrics:
                value = _number(float(group[metric].mean()))
                key = (dataset, strategy)
                table = verdicts[(model, metric)]
                if key in table.index:
                    v = table.loc[key]
                    interval = (f"[{v['low']:+.3f}, {v['high']:+.3f}]" if math.isfinite(v["low"]) else "")
                    value += f"<br><small>{v['delta']:+.4f} {interval} {_e(v['verdict'])}</small>"
                cells.append(value)
            table_rows.append(cells)
        parts.append(_table(["model", "strategy", "seeds", *metrics], table_rows))
    return "".join(parts)


def render(name: str, experiment: str, frame: pd.DataFrame, results: list[MetricResult], metrics: list[str],
           baseline: str, alpha: float) -> str:
    """The page: what was run, the methods, a section per model and metric, a table per dataset."""
    models = sorted(frame["model"].unique())
    strategies = sorted(frame["strategy"].unique())
    seeds = sorted(frame["seed"].unique())
    intro = (f"<p>{len(frame)} runs in experiment <code>{_e(experiment)}</code>: {frame['dataset'].nunique()} datasets "
             f"x strategies {_e(', '.join(strategies))} x models {_e(', '.join(models))} x seeds "
             f"{_e(', '.join(map(str, seeds)))}. Baseline: <code>{_e(baseline)}</code>. Values are test-set "
             "metrics; every strategy was applied to the training part only, valid and test keep the true "
             "class distribution.</p>")
    sections = "".join(_metric_section(r, baseline, alpha) for r in results)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>imbexp suite · {_e(name)}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:1em auto;font-size:14px}}
table{{border-collapse:collapse;margin:0.5em 0}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}
th{{background:#f3f3f3}}td:first-child,td:nth-child(2){{text-align:left}}.note{{color:#666}}</style></head>
<body><h1>Which strategy wins across datasets · {_e(name)}</h1>{intro}
<h2>Methods (where each number comes from)</h2>{METHODS}
<h2>Across datasets</h2>{sections}
<h2>Per dataset</h2><p>Each cell: the metric's mean over seeds; below it, the mean delta against {_e(baseline)},
its 95 % interval and the verdict (see Methods).</p>{_dataset_tables(frame, metrics, baseline)}
</body></html>
"""
