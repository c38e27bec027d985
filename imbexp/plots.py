"""The four per-run plots, drawn with scikit-learn's display classes on a headless backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np


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


def pr_curve(y_true, y_score, path: Path) -> Path:
    from sklearn.metrics import PrecisionRecallDisplay

    return _curve(PrecisionRecallDisplay, y_true, y_score, "Precision-recall (test)", path)


def roc_curve(y_true, y_score, path: Path) -> Path:
    from sklearn.metrics import RocCurveDisplay

    return _curve(RocCurveDisplay, y_true, y_score, "ROC (test)", path)


def _curve(display, y_true, y_score, title: str, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    display.from_predictions(y_true, y_score, ax=ax, name="model", plot_chance_level=True)
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
