"""Multi-class intervals and paired deltas (imbexp.multiclass.intervals)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax
from sklearn import metrics as skm

from imbexp.multiclass import intervals as MI

CLASSES = ("0", "1", "2")


def _test_set(n: int, seed: int = 0, ties: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels at shares 0.8 / 0.15 / 0.05 and an informative, imperfect softmax model's P."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, n, p=[0.80, 0.15, 0.05])
    P = softmax(rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[y], axis=1)
    if ties:  # rounded probabilities: many rows share a score (ties in the rankings)
        P = np.round(P, 2)
        P /= P.sum(axis=1, keepdims=True)
    return y, P, P.argmax(axis=1)


def _sklearn(y: np.ndarray, P: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    labels = np.arange(P.shape[1])
    confidence, top = P.max(axis=1), P.argmax(axis=1)
    bins = np.minimum((np.ceil(confidence * 15) - 1).astype(int), 14)
    ece = sum(np.mean(bins == b) * abs(confidence[bins == b].mean() - np.mean(top[bins == b] == y[bins == b]))
              for b in np.unique(bins))
    return {
        "pr_auc": np.mean([skm.average_precision_score(y == k, P[:, k]) for k in labels]),
        "roc_auc": skm.roc_auc_score(y, P, multi_class="ovr", average="macro"),
        "f1_macro": skm.f1_score(y, predicted, average="macro", labels=labels, zero_division=0),
        "balanced_accuracy": skm.balanced_accuracy_score(y, predicted),
        "ece": ece,
        "log_loss": skm.log_loss(y, P, labels=labels),
        "brier": np.mean(np.sum((P - np.eye(3)[y]) ** 2, axis=1)),
    }


@pytest.mark.parametrize("ties", [False, True])
def test_bootstrap_values_equal_scikit_learn_on_a_resample(ties):
    y, P, predicted = _test_set(1500, seed=1, ties=ties)
    count = next(MI.count_blocks(y.size, 3, seed=7))
    values = MI.Resampled(y, P, predicted).values(count)
    for i in range(3):
        rows = np.repeat(np.arange(y.size), count[i].astype(int))
        expected = _sklearn(y[rows], P[rows], predicted[rows])
        for name in MI.BOOTSTRAP_METRICS:
            assert values[name][i] == pytest.approx(expected[name], rel=1e-12, abs=1e-12), name


def test_point_values_are_scikit_learns():
    y, P, predicted = _test_set(2000, seed=2)
    expected = _sklearn(y, P, predicted)
    for name, value in MI.point_values(y, P, predicted).items():
        assert value == pytest.approx(expected[name], rel=1e-12, abs=1e-12), name


def test_count_blocks_do_not_depend_on_the_block_size(monkeypatch):
    whole = np.vstack(list(MI.count_blocks(500, 40, seed=3)))
    monkeypatch.setattr(MI, "_CELLS", 500 * 7)  # blocks of 7 resamples
    blocks = list(MI.count_blocks(500, 40, seed=3))
    assert len(blocks) == 6
    assert np.array_equal(np.vstack(blocks), whole)
    assert np.all(whole.sum(axis=1) == 500)


def test_intervals_contain_the_estimate_and_shrink_with_n():
    widths = {}
    for n in (2_000, 20_000):
        y, P, predicted = _test_set(n, seed=4)
        point = MI.point_values(y, P, predicted)
        found = MI.intervals(y, P, predicted, n_resamples=300, seed=0)
        assert set(found) == set(MI.INTERVAL_METRICS)
        for name, (low, high) in found.items():
            assert low <= point[name] <= high, (n, name, low, point[name], high)
        widths[n] = {name: high - low for name, (low, high) in found.items()}
    for name in MI.INTERVAL_METRICS:  # 10x the rows: about sqrt(10) = 3.2x narrower
        assert widths[20_000][name] < 0.5 * widths[2_000][name], name


def test_intervals_are_reproducible_by_seed():
    y, P, predicted = _test_set(1000, seed=5)
    first = MI.intervals(y, P, predicted, n_resamples=200, seed=11)
    assert MI.intervals(y, P, predicted, n_resamples=200, seed=11) == first
    other = MI.intervals(y, P, predicted, n_resamples=200, seed=12)
    assert other["pr_auc"] != first["pr_auc"]
    assert other["log_loss"] == first["log_loss"]  # a normal interval of a mean: no resampling


def test_too_few_names_the_class_and_the_minimum():
    y = np.r_[np.zeros(500), np.ones(100), np.full(9, 2)].astype(np.int16)
    assert MI.too_few(y, ("cat", "dog", "eel")) == (
        "no 95 % intervals: test has 9 rows of class 'eel', fewer than 10 (below 10 the measured coverage "
        "of a '95 %' interval fell to 89 %; benchmarks/README.md)")
    assert MI.too_few(np.r_[y, 2].astype(np.int16), ("cat", "dog", "eel")) is None
    # a class absent from test counts 0
    assert "has 0 rows of class 'eel'" in MI.too_few(y[:600], ("cat", "dog", "eel"))
    assert "has 0 rows of class 'dog'" in MI.too_few(np.r_[y[:500], y[600:]], ("cat", "dog", "eel"))


def test_paired_delta_of_a_run_with_itself_is_zero():
    y, P, predicted = _test_set(1500, seed=6)
    deltas = MI.paired_deltas(y, P, predicted, P, predicted, n_resamples=200, seed=0)
    assert set(deltas) == set(MI.DELTA_METRICS)
    for name, d in deltas.items():
        assert (d.value, d.low, d.high) == (0.0, 0.0, 0.0), name
        assert d.p == 1.0, name
        assert d.verdict(name) == "no detectable difference"
        assert d.method == MI.DELTA_METHODS[name]


def test_paired_delta_finds_a_worse_calibrated_run():
    y, P, predicted = _test_set(3000, seed=8)
    flat = softmax(np.log(P) / 3, axis=1)  # the same ranking, far too timid probabilities
    deltas = MI.paired_deltas(y, flat, flat.argmax(axis=1), P, predicted, n_resamples=300, seed=0)
    point_a, point_b = MI.point_values(y, flat, flat.argmax(axis=1)), MI.point_values(y, P, predicted)
    for name, d in deltas.items():
        assert d.value == pytest.approx(point_a[name] - point_b[name]), name
        assert d.low <= d.value <= d.high, name
    for name in ("log_loss", "brier"):
        assert deltas[name].verdict(name) == "worse", name
        assert deltas[name].p < 0.01, name


def test_method_summary_names_every_metric():
    text = MI.method_summary()
    for name in MI.INTERVAL_METRICS:
        assert name in text
    assert "bootstrap" in text
