"""The cross-dataset statistics of a suite, one model and one metric at a time.

Every test comes from a library; nothing here re-derives one:
- mean ranks, the Friedman test, the Nemenyi post-hoc test, its critical difference and the
  critical-difference diagram: autorank (``force_mode="nonparametric"``: Demsar 2006's protocol,
  whatever the normality checks say, as the benchmark literature reports it);
- each strategy against the baseline: the Wilcoxon signed-rank test over datasets with its effect
  size (Akinshin's gamma) and magnitude, from autorank on the two columns; Holm's correction of
  those p-values from statsmodels (``multipletests(method="holm")``);
- the per-dataset verdicts (win / tie / loss): the per-seed deltas' 95 % t interval across seeds
  (imbexp.intervals.seed_interval, scipy's t quantile) with two seeds or more; with one seed, the
  run's own paired interval from compare.py where it logged one.

A dataset is a block: the value of a strategy on it is the mean over its seeds. Only datasets on
which every strategy finished enter the ranks (the others are named).
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from imbexp import intervals
from imbexp.benchmark import _results
from imbexp.metrics import LOWER_IS_BETTER

#: autorank's fewest blocks (datasets) for any test
MIN_DATASETS = 5
#: metrics whose best value is a target, not an end of the scale (0 for the calibration intercept
#: and prediction bias, 1 for the slope): shown per dataset, not ranked
NO_BETTER_END = frozenset({"prediction_bias", "calibration_intercept", "calibration_slope"})


@dataclass
class Pairwise:
    """One strategy against the baseline over the datasets."""

    strategy: str
    median_delta: float
    mean_delta: float
    p: float  # Wilcoxon signed-rank (autorank)
    p_holm: float  # Holm-adjusted over the strategies (statsmodels)
    effect_size: float  # Akinshin's gamma (autorank), signed: > 0 = better than the baseline
    magnitude: str
    wins: int = 0
    ties: int = 0
    losses: int = 0
    untested: int = 0


@dataclass
class MetricResult:
    """One model's strategies on one metric across the datasets."""

    model: str
    metric: str
    lower_is_better: bool
    datasets: list[str]
    excluded: list[str]
    mean_ranks: dict[str, float] = field(default_factory=dict)
    friedman_p: float = math.nan
    omnibus: str = ""
    posthoc: str = ""
    critical_difference: float = math.nan
    pairwise: list[Pairwise] = field(default_factory=list)
    cd_png: bytes | None = None
    note: str = ""

    def summary(self) -> dict[str, Any]:
        """What the suite logs as JSON: the numbers a script or a test reads back."""
        return {"model": self.model, "metric": self.metric, "lower_is_better": self.lower_is_better,
                "datasets": self.datasets, "excluded": self.excluded, "mean_ranks": self.mean_ranks,
                "friedman_p": _finite(self.friedman_p), "omnibus": self.omnibus, "posthoc": self.posthoc,
                "critical_difference": _finite(self.critical_difference), "note": self.note,
                "vs_baseline": [{k: _finite(v) if isinstance(v, float) else v for k, v in vars(p).items()}
                                for p in self.pairwise]}


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _autorank(table: pd.DataFrame, lower_is_better: bool, alpha: float, **kwargs: Any) -> Any:
    from autorank import autorank

    # autorank prints its test choice and tables even with verbose=False
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return autorank(table, alpha=alpha, verbose=False, force_mode="nonparametric",
                        order="ascending" if lower_is_better else "descending", **kwargs)


def analyse(frame: pd.DataFrame, model: str, metric: str, baseline: str, alpha: float = 0.05,
            draw: bool = True) -> MetricResult:
    """Ranks, Friedman, Nemenyi, the CD diagram, and each strategy against ``baseline``."""
    lower = metric in LOWER_IS_BETTER
    table = _results.per_dataset(frame, model, metric)
    complete = table.dropna(axis=0, how="any")
    result = MetricResult(model, metric, lower, sorted(complete.index), sorted(set(table.index) - set(complete.index)))
    strategies = list(complete.columns)
    if metric in NO_BETTER_END:
        result.note = "its best value is a target, not an end of the scale: shown per dataset, not ranked"
        return result
    if len(complete) < MIN_DATASETS or len(strategies) < 2:
        result.note = (f"{len(complete)} dataset(s) where all {len(strategies)} strategies finished: the tests need "
                       f"at least {MIN_DATASETS} datasets and 2 strategies")
        return result
    ranked = _autorank(complete, lower, alpha)
    result.mean_ranks = {s: float(ranked.rankdf.loc[s, "meanrank"]) for s in strategies}
    result.omnibus, result.posthoc = str(ranked.omnibus), str(ranked.posthoc)
    result.friedman_p = float(ranked.pvalue)
    result.critical_difference = float(ranked.cd) if ranked.cd is not None else math.nan
    if draw and len(strategies) >= 3:
        result.cd_png = _cd_diagram(ranked)
    if baseline in strategies:
        result.pairwise = _against_baseline(complete, frame, model, metric, baseline, lower, alpha)
    else:
        result.note = f"the baseline strategy {baseline!r} has no runs on every dataset: no tests against it"
    return result


def _against_baseline(complete: pd.DataFrame, frame: pd.DataFrame, model: str, metric: str, baseline: str,
                      lower: bool, alpha: float) -> list[Pairwise]:
    from statsmodels.stats.multitest import multipletests

    sign = -1.0 if lower else 1.0
    out = []
    for strategy in [s for s in complete.columns if s != baseline]:
        pair = complete[[baseline, strategy]]
        delta = pair[strategy] - pair[baseline]
        if np.allclose(delta, 0):
            p, effect, magnitude = 1.0, 0.0, "negligible"
        else:
            tested = _autorank(pair, lower, alpha, effect_size="akinshin_gamma")
            p = float(tested.pvalue)
            effect = abs(float(tested.rankdf["effect_size"].abs().max()))
            # gamma's sign follows autorank's table order; the deltas say which side is better
            effect *= np.sign(sign * float(np.median(delta))) or np.sign(sign * float(np.mean(delta))) or 1.0
            magnitude = str(tested.rankdf.loc[tested.rankdf["effect_size"].abs().idxmax(), "magnitude"])
        out.append(Pairwise(strategy, float(np.median(delta)), float(np.mean(delta)), p, math.nan, effect, magnitude))
    ps = [p.p for p in out]
    if ps:
        adjusted = multipletests(ps, alpha=alpha, method="holm")[1]
        for pairwise, value in zip(out, adjusted, strict=True):
            pairwise.p_holm = float(value)
    verdicts = dataset_verdicts(frame, model, metric, baseline)
    for pairwise in out:
        counts = verdicts[verdicts["strategy"] == pairwise.strategy]
        counts = counts[counts["dataset"].isin(complete.index)]["verdict"].value_counts()
        pairwise.wins, pairwise.ties = int(counts.get("win", 0)), int(counts.get("tie", 0))
        pairwise.losses, pairwise.untested = int(counts.get("loss", 0)), int(counts.get("untested", 0))
    return out


def dataset_verdicts(frame: pd.DataFrame, model: str, metric: str, baseline: str) -> pd.DataFrame:
    """Per dataset and strategy: the mean delta against the baseline over seeds, its 95 % interval,
    how it was obtained, and win / tie / loss (untested: one seed and no paired interval)."""
    deltas = _results.seed_deltas(frame, model, metric, baseline)
    rows = []
    for (dataset, strategy), group in deltas.groupby(["dataset", "strategy"]):
        values = group["delta"].to_numpy(dtype=float)
        if len(values) >= 2:
            mean, _sd, low, high = intervals.seed_interval(values)
            how = f"t interval across {len(values)} seeds"
        else:
            mean, low, high = float(values[0]), float(group["low"].iloc[0]), float(group["high"].iloc[0])
            how = "the run's paired interval" if math.isfinite(low) else "one seed, no interval"
        if not (math.isfinite(low) and math.isfinite(high)):
            verdict = "untested"
        elif metric in NO_BETTER_END:
            verdict = "higher" if low > 0 else "lower" if high < 0 else "tie"
        else:
            words = intervals.Delta(mean, low, high, math.nan, "").verdict(metric)
            verdict = {"better": "win", "worse": "loss"}.get(words, "tie")
        rows.append({"dataset": dataset, "strategy": strategy, "delta": mean, "low": low, "high": high,
                     "seeds": len(values), "how": how, "verdict": verdict})
    return pd.DataFrame(rows, columns=["dataset", "strategy", "delta", "low", "high", "seeds", "how", "verdict"])


def _cd_diagram(ranked: Any) -> bytes | None:
    """autorank's critical-difference diagram as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from autorank import plot_stats

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            axis = plot_stats(ranked, allow_insignificant=True)
    except Exception:  # autorank draws no diagram for some results (e.g. two strategies)
        return None
    figure = axis.get_figure()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()
