"""The per-run plots of a multi-class run: confusion matrices (counts and row-normalised), one
one-vs-rest precision-recall curve per class, and class-wise reliability diagrams.

Each ``*_figure`` function builds a matplotlib ``Figure`` without pyplot (no global state, safe
inside a sweep; the report embeds the same figures); the functions named after the run's
artifacts save it as PNG and close it. Labels are class label texts, in code order (code k is
``classes[k]``); ``y`` and ``pred`` are codes, ``P`` is (n, K) with columns in code order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: reliability panels per row
RELIABILITY_COLUMNS = 3


def _figure(width: float, height: float, layout: str = "tight"):
    """A figure laid out when it is drawn, with the ticks it is drawn with: class labels differ in
    length from run to run, so no fixed margin fits them all (a layout engine costs one more
    measuring pass, for three figures a run)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout=layout)


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    fig.clear()  # a Figure made without pyplot is not registered anywhere: clearing it frees it
    return path


def _labels(classes: Sequence[str]) -> list[str]:
    return [str(label) for label in classes]


def _cell_fontsize(n_classes: int) -> float:
    return 10.0 if n_classes <= 5 else 8.0 if n_classes <= 8 else 7.0


def confusion_figure(y, pred, classes: Sequence[str]):
    """Two panels side by side: the counts, and each true class's row divided by its rows (so a
    rare class's recall reads as clearly as a common one's); values in the cells."""
    from sklearn.metrics import ConfusionMatrixDisplay

    labels = _labels(classes)
    k = len(labels)
    longest = max(len(label) for label in labels)
    rotate = 45 if k > 4 or longest > 6 else "horizontal"
    side = max(3.2, 0.55 * k + 1.4)
    fig = _figure(2 * side + 1.0 + 0.12 * longest, side + 0.9 + (0.07 * longest if rotate == 45 else 0))
    axes = fig.subplots(1, 2)
    text_kw = {"fontsize": _cell_fontsize(k)}
    codes = list(range(k))
    for ax, normalize, fmt, title in ((axes[0], None, "d", "counts\n"),
                                      (axes[1], "true", ".2f", "row-normalised\n(each true class's row sums to 1)")):
        display = ConfusionMatrixDisplay.from_predictions(
            np.asarray(y), np.asarray(pred), labels=codes, normalize=normalize, display_labels=labels, ax=ax,
            colorbar=False, values_format=fmt, xticks_rotation=rotate, text_kw=text_kw, cmap="Blues")
        if rotate == 45:
            for tick in ax.get_xticklabels():
                tick.set_horizontalalignment("right")
                tick.set_rotation_mode("anchor")
        display.im_.set_clim(0, None if normalize is None else 1.0)
        ax.set_title(f"Test, {title}", fontsize=10)
    return fig


def confusion_matrix(y, pred, classes: Sequence[str], path: Path) -> Path:
    """``confusion_figure`` saved as PNG at ``path``."""
    return _save(confusion_figure(y, pred, classes), path)


def pr_figure(y, P, classes: Sequence[str]):
    """One one-vs-rest precision-recall curve per class (its average precision in the legend),
    each class's share of the rows as its dashed baseline (the AP of a random ranking)."""
    from matplotlib import colormaps
    from sklearn.metrics import PrecisionRecallDisplay

    labels = _labels(classes)
    y, P = np.asarray(y), np.asarray(P, dtype=np.float64)
    cmap = colormaps["tab10"]
    fig = _figure(8.5, 5.0)
    ax = fig.subplots()
    for code, label in enumerate(labels):
        color = cmap(code % 10)
        truth = y == code
        if not truth.any():  # no test row of the class: no curve to draw
            continue
        PrecisionRecallDisplay.from_predictions(truth, P[:, code], name=label, ax=ax,
                                                curve_kwargs={"color": color, "linewidth": 1.5})
        ax.axhline(truth.mean(), color=color, linestyle="--", linewidth=0.9)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall (one vs rest)")
    ax.set_ylabel("precision (one vs rest)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    ax.set_title("Precision-recall per class (test); dashed: the class's share", fontsize=10)
    return fig


def pr_curves(y, P, classes: Sequence[str], path: Path) -> Path:
    """``pr_figure`` saved as PNG at ``path``."""
    return _save(pr_figure(y, P, classes), path)


def reliability_figure(y, P, classes: Sequence[str], n_bins: int = 15, p_true=None):
    """One panel per class: the mean of P_k against the observed share of class k in quantile
    bins of P_k (as the binary report's ``reliability_points``) and, where the true
    probabilities are known, against the mean p_true_k (far less noisy than 0/1 labels). Each
    panel spans its own class's range: a rare class's scores sit near 0, a common one's near 1."""
    from matplotlib.ticker import MaxNLocator

    from imbexp.report._reliability import reliability_points

    labels = _labels(classes)
    y, P = np.asarray(y), np.asarray(P, dtype=np.float64)
    k = len(labels)
    cols = min(k, RELIABILITY_COLUMNS)
    rows = math.ceil(k / cols)
    fig = _figure(4.2 * cols, 3.9 * rows, layout="constrained")  # the tight layout lets the title overlap
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for code, (ax, label) in enumerate(zip(axes, labels, strict=False)):
        score = P[:, code]
        observed = (y == code).astype(np.float64)
        predicted, share, _ = reliability_points(score, observed, n_bins)
        ax.plot(predicted, share, marker="o", ms=3.5, color="tab:blue", label="observed share")
        top = [predicted.max(), share.max()]
        if p_true is not None:
            x_true, mean_true, _ = reliability_points(score, np.asarray(p_true, dtype=np.float64)[:, code], n_bins)
            ax.plot(x_true, mean_true, marker="s", ms=3, color="tab:orange", label="mean p_true")
            top.append(mean_true.max())
        high = min(1.0, 1.08 * max(max(top), 1e-3))
        ax.plot([0, high], [0, high], color="grey", linestyle=":", linewidth=1)
        # fixed ticks inside the limits: a tick that lands on the edge in one drawing pass and not
        # in another pokes out of the figure, past the margin the layout measured
        ticks = [t for t in MaxNLocator(nbins=5).tick_values(0, high) if 0 <= t <= 0.97 * high]
        ax.set_xticks(ticks)
        ax.set_yticks(ticks)
        ax.set_xlim(0, high)
        ax.set_ylim(0, high)
        ax.set_title(f"{label}\nshare {observed.mean():.2%}, mean P {score.mean():.2%}", fontsize=9)
        ax.set_xlabel(f"mean P({label})", fontsize=9)
        ax.set_ylabel("observed share" if p_true is None else "share / p_true", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes[k:]:
        ax.set_visible(False)
    fig.suptitle(f"Class-wise reliability (test), {n_bins} quantile bins of each class's probability", fontsize=10)
    return fig


def reliability(y, P, classes: Sequence[str], path: Path, n_bins: int = 15, p_true=None) -> Path:
    """``reliability_figure`` saved as PNG at ``path``."""
    return _save(reliability_figure(y, P, classes, n_bins, p_true), path)
