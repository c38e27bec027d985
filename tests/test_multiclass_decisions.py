"""Multi-class decision rules: argmax, least expected cost, one-vs-rest F1 thresholds, and their refusals."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf
from sklearn import metrics as skm

from imbexp.errors import ConfigError
from imbexp.multiclass.decisions import check_threshold_config, fit_decision

CLASSES = ("legit", "card fraud", "id theft")


def _valid(seed: int = 0, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Imbalanced codes and probabilities from a softmax that knows something about them."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, n, p=[0.85, 0.11, 0.04])
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), y] += 1.0
    logits += np.log([0.85, 0.11, 0.04])  # the prior: argmax rarely says the rare class
    P = np.exp(logits)
    return y, P / P.sum(axis=1, keepdims=True)


def test_argmax_is_the_most_probable_class() -> None:
    y, P = _valid()
    decision = fit_decision(y, P, {}, CLASSES)
    assert np.array_equal(decision.predict(P), P.argmax(axis=1))
    assert decision.metrics() == {}
    assert decision.describe() == "decision: the most probable class (argmax)"
    cfg = OmegaConf.create({"multiclass": "argmax", "cost_matrix": None})
    assert fit_decision(y, P, cfg, CLASSES).method == "argmax"


def test_cost_matrix_chooses_the_least_expected_cost_of_a_brute_force_search() -> None:
    rng = np.random.default_rng(3)
    P = rng.dirichlet([1, 1, 1], size=500)
    given = {"legit": {"card fraud": 2.5, "id theft": 1.5}, "card fraud": {"legit": 3, "card fraud": 0.25},
             "id theft": {"legit": 4, "card fraud": 2}}
    decision = fit_decision(np.zeros(0, dtype=int), np.zeros((0, 3)), {"multiclass": "cost_matrix",
                                                                        "cost_matrix": given}, CLASSES)
    cost = np.ones((3, 3)) - np.eye(3)  # the defaults of missing entries
    for true, row in given.items():
        for predicted, value in row.items():
            cost[CLASSES.index(true), CLASSES.index(predicted)] = value
    np.testing.assert_array_equal(decision.costs, cost)
    brute = [min(range(3), key=lambda j, p=p: sum(p[i] * cost[i, j] for i in range(3))) for p in P]
    assert np.array_equal(decision.predict(P), brute)
    assert len(set(brute)) == 3  # every class is chosen somewhere
    assert "id theft->legit 4" in decision.describe() and "card fraud->card fraud 0.25" in decision.describe()


def test_a_costly_miss_raises_that_class_recall() -> None:
    y, P = _valid(seed=1)
    argmax = fit_decision(y, P, {"multiclass": "argmax"}, CLASSES).predict(P)
    costly = fit_decision(y, P, {"multiclass": "cost_matrix",
                                 "cost_matrix": {"id theft": {"legit": 20, "card fraud": 20}}}, CLASSES).predict(P)
    recall = skm.recall_score(y, argmax, labels=[2], average=None)[0]
    assert skm.recall_score(y, costly, labels=[2], average=None)[0] > recall + 0.2
    assert np.array_equal(costly != argmax, (costly == 2) & (argmax != 2))  # only ever switched to id theft


def test_cost_matrix_keys_are_compared_as_text() -> None:
    cfg = OmegaConf.create({"multiclass": "cost_matrix", "cost_matrix": {2: {0: 9}}})
    decision = fit_decision(np.zeros(0, dtype=int), np.zeros((0, 3)), cfg, ("0", "1", "2"))
    assert decision.costs[2, 0] == 9 and decision.costs[0, 2] == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ovr_f1_thresholds_maximise_each_class_f1_and_do_not_lose_macro_f1(seed: int) -> None:
    y, P = _valid(seed=seed)
    decision = fit_decision(y, P, {"multiclass": "ovr_f1"}, CLASSES)
    thresholds = decision.metrics()
    assert list(thresholds) == ["threshold_legit", "threshold_card_fraud", "threshold_id_theft"]
    for k, t in enumerate(thresholds.values()):
        precision, recall, _ = skm.precision_recall_curve(y == k, P[:, k])
        best = np.max(np.where(precision + recall > 0, 2 * precision * recall / (precision + recall + 1e-300), 0))
        assert skm.f1_score(y == k, P[:, k] >= t) == pytest.approx(best)
    assert thresholds["threshold_id_theft"] < 0.5
    tuned = skm.f1_score(y, decision.predict(P), average="macro")
    assert tuned >= skm.f1_score(y, P.argmax(axis=1), average="macro")
    assert np.array_equal(decision.predict(P), np.argmax(P / np.array(list(thresholds.values())), axis=1))
    assert decision.describe().startswith("decision: argmax of P_k / t_k, one-vs-rest F1 thresholds tuned on valid:")


def test_ovr_f1_gives_a_class_without_valid_rows_the_median_threshold() -> None:
    y, P = _valid(seed=4, n=600)
    y[y == 2] = 0
    decision = fit_decision(y, P, {"multiclass": "ovr_f1"}, CLASSES)
    t = list(decision.metrics().values())
    assert np.isfinite(t).all() and t[2] == pytest.approx(np.median(t[:2]))
    assert "id theft" in decision.describe() and "no valid rows" in decision.describe()


REFUSALS = [
    ({"multiclass": "max"}, "threshold.multiclass='max' is not allowed; use one of argmax, cost_matrix, ovr_f1."),
    ({"multiclass": ["argmax"]}, "threshold.multiclass=['argmax'] is not allowed; use one of argmax, cost_matrix, "
                                 "ovr_f1."),
    ({"cost_matrix": {"legit": {"id theft": 2}}},
     "threshold.cost_matrix is set, but threshold.multiclass=argmax does not use it; set "
     "threshold.multiclass=cost_matrix, or threshold.cost_matrix=null."),
    ({"multiclass": "ovr_f1", "cost_matrix": {}},
     "threshold.cost_matrix is set, but threshold.multiclass=ovr_f1 does not use it; set "
     "threshold.multiclass=cost_matrix, or threshold.cost_matrix=null."),
    ({"multiclass": "cost_matrix"},
     "threshold.multiclass=cost_matrix needs threshold.cost_matrix, a mapping {true_label: {predicted_label: "
     "cost}}, e.g. {fraud: {legit: 10}}; it is null."),
    ({"multiclass": "cost_matrix", "cost_matrix": [[0, 1, 1], [1, 0, 1], [1, 1, 0]]},
     "threshold.cost_matrix=[[0, 1, 1], [1, 0, 1], [1, 1, 0]] is not allowed; use a mapping {true_label: "
     "{predicted_label: cost}}, e.g. {fraud: {legit: 10}}."),
    ({"multiclass": "cost_matrix", "cost_matrix": 5},
     "threshold.cost_matrix=5 is not allowed; use a mapping {true_label: {predicted_label: cost}}, "
     "e.g. {fraud: {legit: 10}}."),
    ({"multiclass": "cost_matrix", "cost_matrix": {"legit": 3}},
     "threshold.cost_matrix.legit=3 is not allowed; each class maps to {predicted_label: cost}, e.g. "
     "threshold.cost_matrix: {legit: {card fraud: 5}}."),
    ({"multiclass": "cost_matrix", "cost_matrix": {"fraud": {"legit": 3}}},
     "threshold.cost_matrix names the class 'fraud', which is not in the data; the classes are legit, "
     "card fraud, id theft."),
    ({"multiclass": "cost_matrix", "cost_matrix": {"legit": {"theft": 3}}},
     "threshold.cost_matrix.legit names the class 'theft', which is not in the data; the classes are legit, "
     "card fraud, id theft."),
    ({"multiclass": "cost_matrix", "cost_matrix": {"legit": {"id theft": -1}}},
     "threshold.cost_matrix.legit.id theft=-1 is not allowed; costs are finite numbers >= 0."),
    ({"multiclass": "cost_matrix", "cost_matrix": {"legit": {"id theft": float("inf")}}},
     "threshold.cost_matrix.legit.id theft=inf is not allowed; costs are finite numbers >= 0."),
    ({"multiclass": "cost_matrix", "cost_matrix": {"legit": {"id theft": float("nan")}}},
     "threshold.cost_matrix.legit.id theft=nan is not allowed; costs are finite numbers >= 0."),
    ({"multiclass": "cost_matrix", "cost_matrix": {"legit": {"id theft": "high"}}},
     "threshold.cost_matrix.legit.id theft='high' is not allowed; costs are finite numbers >= 0."),
    ({"multiclass": "cost_matrix", "cost_matrix": {"legit": {"id theft": True}}},
     "threshold.cost_matrix.legit.id theft=True is not allowed; costs are finite numbers >= 0."),
    ({"multiclass": "cost_matrix", "cost_matrix": {c: {d: 0 for d in CLASSES} for c in CLASSES}},
     "threshold.cost_matrix makes every cost 0, so every class would be equally good; at least one cost "
     "must be > 0."),
]


@pytest.mark.parametrize(("cfg", "sentence"), REFUSALS)
def test_bad_threshold_config_is_refused_in_one_sentence(cfg: dict, sentence: str) -> None:
    y, P = _valid(n=100)
    for given in (cfg, OmegaConf.create(cfg)):
        with pytest.raises(ConfigError) as refused:
            check_threshold_config(given, CLASSES)
        assert str(refused.value) == sentence
        with pytest.raises(ConfigError, match="^threshold\\."):
            fit_decision(y, P, given, CLASSES)


def test_a_class_named_twice_is_refused() -> None:
    cfg = OmegaConf.create({"multiclass": "cost_matrix", "cost_matrix": {1: {0: 2}, "1": {2: 3}}})
    with pytest.raises(ConfigError) as refused:
        check_threshold_config(cfg, ("0", "1", "2"))
    assert str(refused.value) == ("threshold.cost_matrix names the class '1' twice (keys compare as text); "
                                  "keep one entry.")


def test_binary_data_keeps_the_multiclass_keys_at_their_defaults() -> None:
    check_threshold_config({"rule": "f1", "multiclass": "argmax", "cost_matrix": None}, None)
    with pytest.raises(ConfigError) as refused:
        check_threshold_config({"multiclass": "ovr_f1"}, None)
    assert str(refused.value) == ("threshold.multiclass=ovr_f1 applies to multi-class data, and this dataset is "
                                  "binary; leave threshold.multiclass=argmax and choose the threshold with "
                                  "threshold.rule.")
    with pytest.raises(ConfigError, match=r"^threshold.cost_matrix applies to multi-class data"):
        check_threshold_config({"cost_matrix": {"a": {"b": 2}}}, None)
