"""The four per-run plots, drawn with scikit-learn's display classes on a headless backend, and
the fixed panel margins the sweep summary and the report lay their figures out with."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: inches left of a panel whose y axis has a label
LABELLED_LEFT = 0.9


def fixed_margins(fig, *, title: str | None = None, left: float = 0.8, right: float = 0.2, top: float = 0.35,
                  bottom: float = 0.6, below: float = 0.0) -> None:
    """Place the figure's grid of panels with fixed margins, in inches: ``left``, ``right``,
    ``top`` and ``bottom`` around every panel (tick labels, axis labels, panel title), ``below``
    the grid for a figure legend, and a band above it for the figure's ``title``.

    Rather than a layout engine: with one, savefig draws the figure once more to measure every
    tick label (constrained layout measures it twice on top), which cost more than drawing it.
    """
    width, height = fig.get_size_inches()
    above = 0.0
    if title:
        fig.suptitle(title, fontsize=12, y=1 - 0.1 / height)
        above = 0.35
    rows, cols = fig.axes[0].get_subplotspec().get_gridspec().get_geometry()
    panel_width = (width - cols * (left + right)) / cols
    panel_height = (height - above - below - rows * (top + bottom)) / rows
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=(below + bottom) / height,
                        top=1 - (above + top) / height, wspace=(left + right) / panel_width,
                        hspace=(top + bottom) / panel_height)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def reliability(y_true, y_score, path: Path, n_bins: int, ece: float, p_true=None) -> Path:
    """Reliability curve over a histogram of the scores: ECE in the title, where the truth is
    known the mean |score - p_true| too."""
    from sklearn.calibration import CalibrationDisplay

    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 7), height_ratios=[3, 1], sharex=True)
    CalibrationDisplay.from_predictions(y_true, y_score, n_bins=n_bins, ax=top, name="model")
    title = f"Reliability (test) - ECE {ece:.4f}"
    if p_true is not None:
        title += f", mean |score - p_true| {np.mean(np.abs(y_score - p_true)):.4f}"
    top.set_title(title, fontsize=10)
    top.set_xlabel("")
    bottom.hist(y_score, bins=np.linspace(0, 1, n_bins + 1), color="tab:blue", alpha=0.7)
    bottom.set_yscale("log")
    bottom.set_xlabel("Predicted probability")
    bottom.set_ylabel("rows (log)")
    return _save(fig, path, plt)


def pr_curve(y_true, y_score, path: Path, average_precision: float | None = None) -> Path:
    """The test PR curve; ``average_precision`` is the run's own, for the legend (otherwise it is
    computed here: the display would compute it from a second whole curve, 9 row-long arrays,
    140 MB at 2M test rows)."""
    from sklearn.metrics import PrecisionRecallDisplay, average_precision_score, precision_recall_curve

    if average_precision is None:
        average_precision = average_precision_score(y_true, y_score)
    # the thresholds that add no corner to the drawn curve are dropped: the same picture, without
    # a point per test row (2M rows drew in +0.37 GB)
    precision, recall, _ = precision_recall_curve(y_true, y_score, drop_intermediate=True)
    shown = PrecisionRecallDisplay(precision, recall, average_precision=average_precision, pos_label=1,
                                   prevalence_pos_label=float(np.mean(np.asarray(y_true) == 1)))
    return _drawn(shown, "Precision-recall (test)", path)


def roc_curve(y_true, y_score, path: Path, roc_auc: float | None = None) -> Path:
    """The test ROC curve; ``roc_auc`` as ``average_precision`` of :func:`pr_curve`."""
    from sklearn.metrics import RocCurveDisplay, roc_auc_score
    from sklearn.metrics import roc_curve as curve

    if roc_auc is None:
        roc_auc = roc_auc_score(y_true, y_score)
    fpr, tpr, _ = curve(y_true, y_score, drop_intermediate=True)
    return _drawn(RocCurveDisplay(fpr=fpr, tpr=tpr, roc_auc=roc_auc, pos_label=1), "ROC (test)", path)


def _drawn(display, title: str, path: Path) -> Path:
    """A display made from its curve (positive label 1, as a run's labels), with the chance level."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    display.plot(ax=ax, name="model", plot_chance_level=True)
    ax.set_title(title)
    return _save(fig, path, plt)


def confusion_matrix(y_true, y_score, threshold_tuned: float, path: Path) -> Path:
    """Confusion matrices at 0.5 and at the threshold tuned on valid."""
    from sklearn.metrics import ConfusionMatrixDisplay

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, threshold, title in ((axes[0], 0.5, "threshold 0.5"),
                                 (axes[1], threshold_tuned, f"tuned threshold {threshold_tuned:.4f}")):
        ConfusionMatrixDisplay.from_predictions(y_true, (y_score >= threshold).astype(int), labels=[0, 1],
                                                ax=ax, colorbar=False, values_format="d")
        ax.set_title(f"Test, {title}")
    return _save(fig, path, plt)


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
