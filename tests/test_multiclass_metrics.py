"""Multi-class metrics recomputed with scikit-learn, imbalanced-learn and numpy."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from imblearn.metrics import geometric_mean_score
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

from imbexp.errors import DataError
from imbexp.multiclass import check_class_keys, class_key
from imbexp.multiclass import metrics as MM

REPO = Path(__file__).resolve().parents[1]
CLASSES = {3: ("cat", "dog", "red fox"), 4: ("legit", "card fraud", "id/theft", "x.y-z_1")}


def _data(K: int, n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Imbalanced codes, softmax probabilities that know something, and decisions that are not argmax."""
    rng = np.random.default_rng(seed)
    shares = np.array([0.75, 0.17, 0.05, 0.03][:K])
    y = rng.choice(K, n, p=shares / shares.sum())
    logits = rng.normal(size=(n, K))
    logits[np.arange(n), y] += 1.2
    P = np.exp(logits)
    P /= P.sum(axis=1, keepdims=True)
    predicted = np.argmax(P / np.array([0.5, 0.3, 0.2, 0.1][:K]), axis=1)  # favours rare classes
    return y.astype(np.int16), P, predicted


def _ece_by_hand(correct: np.ndarray, confidence: np.ndarray, n_bins: int) -> float:
    """Equal-width bins (0, 1/B], ..., ((B-1)/B, 1], with 0 in the first: share x |confidence - accuracy|."""
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for b in range(n_bins):
        inside = (confidence > edges[b]) & (confidence <= edges[b + 1])
        if b == 0:
            inside |= confidence == 0
        if inside.any():
            total += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return total


@pytest.mark.parametrize("K", [3, 4])
def test_evaluate_equals_scikit_learn_and_imbalanced_learn(K: int) -> None:
    y, P, pred = _data(K, seed=K)
    classes = CLASSES[K]
    labels = list(range(K))
    values = MM.evaluate(y, P, pred, classes)
    assert list(values) == MM.metric_names(classes)
    assert not np.array_equal(pred, P.argmax(axis=1))  # the decisions, not argmax, are scored

    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "mcc": skm.matthews_corrcoef(y, pred),
        "kappa": skm.cohen_kappa_score(y, pred),
        "g_mean": geometric_mean_score(y, pred, average="multiclass"),
        "roc_auc": skm.roc_auc_score(y, P, multi_class="ovr", average="macro", labels=labels),
        "pr_auc": skm.average_precision_score(label_binarize(y, classes=labels), P, average="macro"),
        "log_loss": skm.log_loss(y, P, labels=labels),
        "brier": skm.brier_score_loss(y, P, labels=labels),
    }
    for average in ("macro", "weighted"):
        expected[f"f1_{average}"] = skm.f1_score(y, pred, average=average, zero_division=0)
        expected[f"precision_{average}"] = skm.precision_score(y, pred, average=average, zero_division=0)
        expected[f"recall_{average}"] = skm.recall_score(y, pred, average=average, zero_division=0)
    per_class = {name: score(y, pred, average=None, labels=labels, zero_division=0)
                 for name, score in (("recall", skm.recall_score), ("precision", skm.precision_score),
                                     ("f1", skm.f1_score))}
    for k, label in enumerate(classes):
        key = class_key(label)
        for name, scores in per_class.items():
            expected[f"{name}_{key}"] = scores[k]
        expected[f"prediction_bias_{key}"] = P[:, k].mean() - np.mean(y == k)
    for name, value in expected.items():
        assert values[name] == pytest.approx(value, rel=1e-10, abs=1e-12), name
    # the multi-class Brier score is the unhalved sum over classes (0 to 2)
    assert values["brier"] == pytest.approx(np.mean(np.sum((P - np.eye(K)[y]) ** 2, axis=1)))


@pytest.mark.parametrize(("K", "n_bins"), [(3, 15), (4, 7)])
def test_top_label_and_classwise_ece_equal_a_direct_computation(K: int, n_bins: int) -> None:
    y, P, pred = _data(K, seed=10 + K)
    P = np.round(P, 2)  # confidences on bin edges (0.2, 0.4, ...) and exact zeros
    P[:, 0] = 1 - P[:, 1:].sum(axis=1)
    P[:5] = np.eye(K)[np.arange(5) % K]  # confidence exactly 1
    values = MM.evaluate(y, P, pred, CLASSES[K], n_bins=n_bins)
    top = P.argmax(axis=1)
    assert values["ece"] == pytest.approx(_ece_by_hand(top == y, P.max(axis=1), n_bins), abs=1e-12)
    classwise = [_ece_by_hand(y == k, P[:, k], n_bins) for k in range(K)]
    for k, label in enumerate(CLASSES[K]):
        assert values[f"ece_{class_key(label)}"] == pytest.approx(classwise[k], abs=1e-12)
    assert values["ece_classwise"] == pytest.approx(np.mean(classwise), abs=1e-12)
    assert values["ece"] > 0.01 and min(classwise) > 0.001  # something that could be wrong was measured


def test_calibrated_probabilities_have_small_ece_and_bias() -> None:
    rng = np.random.default_rng(5)
    P = rng.dirichlet([0.5, 0.3, 0.2], size=100_000)
    y = (rng.random(P.shape[0])[:, None] > np.cumsum(P, axis=1)).sum(axis=1)  # y drawn from P
    values = MM.evaluate(y, P, P.argmax(axis=1), CLASSES[3])
    assert values["ece"] < 0.01 and values["ece_classwise"] < 0.01
    assert all(abs(values[f"prediction_bias_{class_key(c)}"]) < 0.01 for c in CLASSES[3])
    shifted = MM.evaluate(y, np.roll(P, 1, axis=1), P.argmax(axis=1), CLASSES[3])
    assert shifted["ece_classwise"] > 0.05


def test_a_class_absent_from_y_makes_its_metrics_nan_without_warnings() -> None:
    y, P, pred = _data(3, n=400, seed=2)
    y[y == 2] = 0  # "red fox" has no rows on this split, but is predicted
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = MM.evaluate(y, P, pred, CLASSES[3])
    missing = {name for name, value in values.items() if np.isnan(value)}
    assert missing == {"balanced_accuracy", "g_mean", "f1_macro", "recall_macro", "roc_auc", "pr_auc",
                       "recall_red_fox", "f1_red_fox"}
    assert values["precision_red_fox"] == 0.0  # predicted, never right
    assert values["f1_weighted"] == pytest.approx(skm.f1_score(y, pred, average="weighted", zero_division=0))
    assert values["log_loss"] == pytest.approx(skm.log_loss(y, P, labels=[0, 1, 2]))
    assert values["prediction_bias_red_fox"] == pytest.approx(P[:, 2].mean())


def test_rows_within_rounding_of_one_are_scored_as_given_and_others_refused() -> None:
    y, P, pred = _data(3, n=500, seed=3)
    drifted = P * (1 + 1e-7)  # beyond scikit-learn's 1.5e-8 warning, within rounding of float32 models
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = MM.evaluate(y, drifted, pred, CLASSES[3])
    eps = np.finfo(np.float64).eps
    assert values["log_loss"] == pytest.approx(-np.mean(np.log(np.clip(drifted[np.arange(500), y], eps, 1 - eps))))
    with pytest.raises(ValueError, match="sums to"):
        MM.evaluate(y, P * 0.9, pred, CLASSES[3])


def test_metric_names_cover_every_class_key() -> None:
    names = MM.metric_names(CLASSES[4])
    assert names[:3] == ["accuracy", "balanced_accuracy", "mcc"]
    assert {"recall_card_fraud", "precision_id_theft", "f1_x.y-z_1", "ece_legit", "prediction_bias_legit"} <= set(names)
    assert len(names) == len(set(names)) == len(MM.OVERALL_METRICS) + 5 * 4


def test_class_key_replaces_every_character_outside_the_allowed_set() -> None:
    assert class_key("red fox") == "red_fox"
    assert class_key("id/théft:2") == "id_th_ft_2"
    assert class_key("x.y-z_1") == "x.y-z_1"
    assert class_key(3) == "3"


def test_colliding_or_empty_class_keys_are_refused() -> None:
    with pytest.raises(DataError, match=r"'a b' and 'a_b' both become 'a_b'"):
        check_class_keys(("a b", "a_b", "c"))
    with pytest.raises(DataError, match="empty"):
        check_class_keys(("a", "", "c"))
    check_class_keys(CLASSES[4])


def test_importing_the_package_loads_no_scikit_learn() -> None:
    code = ("import sys, imbexp.multiclass as m; assert 'sklearn' not in sys.modules, 'eager'; "
            "assert m.metrics.evaluate and 'sklearn' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_one_class_alone_in_y_and_the_decisions_gives_values_without_warnings() -> None:
    rng = np.random.default_rng(8)
    P = rng.dirichlet([1, 1, 1], size=60)
    y = np.zeros(60, dtype=np.int16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = MM.evaluate(y, P, np.zeros(60, dtype=np.int64), CLASSES[3])
    assert values["accuracy"] == 1.0 and values["mcc"] == 0.0 and np.isnan(values["kappa"])
    assert np.isnan(values["roc_auc"]) and values["recall_cat"] == 1.0
