"""imbalanced-learn samplers as strategies (strategy=imblearn and its presets), row weights carried
through every kind of strategy, and the prior correction of every strategy that moves the prior.

The shared protocol (tests/test_strategies.py) runs every preset already; these tests pin what
only the adapter does: its sentences, the weights it gives each row, its labels and its sweeps.
"""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
from components import build, imbalanced_frame, one_sentence
from sklearn.linear_model import LogisticRegression

from imbexp.errors import ConfigError, DataError
from imbexp.strategies import (
    ClassWeight,
    Downsample,
    DownsampleUpweight,
    ImblearnSampler,
    RandomOversample,
    Smote,
)
from imbexp.strategies._base import positive_share, prior_odds_ratio


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """2,000 rows at 8 % positives, and a weight per row that is not 1 (0.5 to 3)."""
    frame = imbalanced_frame(2000, 0.08, seed=2)
    y = frame.pop("y").to_numpy()
    weight = np.random.default_rng(7).uniform(0.5, 3.0, len(y))
    return frame, y, weight


def sampler(target: str, **params) -> ImblearnSampler:
    return ImblearnSampler({"_target_": target, **params})


# --------------------------------------------------------------------------- building: one sentence

@pytest.mark.parametrize(("overrides", "message"), [
    (["strategy=imblearn", "strategy.sampler._target_=imblearn.over_sampling.SMOTE",
      "+strategy.sampler.k_neighbours=3"],
     r"^strategy.sampler.k_neighbours is not a parameter of imblearn.over_sampling.SMOTE; "
     r"did you mean strategy.sampler.k_neighbors\?"),
    (["strategy=near_miss", "strategy.sampler.version=4"],
     r"^strategy.sampler.version=4 is not allowed; use an int in the range \[1, 3\] \(NearMiss's own check\)\.$"),
    (["strategy=svm_smote", "strategy.sampler.m_neighbors=-2"],
     r"^strategy.sampler.m_neighbors=-2 is not allowed; use an int in the range \[1, inf\)"),
    (["strategy=instance_hardness", "strategy.sampler.estimator.n_estimators=0"],
     r"^strategy.sampler.estimator.n_estimators=0 is not allowed; use an int in the range \[1, inf\)"),
    (["strategy=imblearn", "strategy.sampler._target_=sklearn.linear_model.LogisticRegression"],
     r"^strategy.sampler._target_='sklearn.linear_model.LogisticRegression' is not an imbalanced-learn "
     r"sampler \(it has no fit_resample\); use one such as imblearn.under_sampling.TomekLinks"),
    (["strategy=imblearn", "strategy.sampler._target_=imblearn.under_sampling.TomekLink"],
     r"^strategy.sampler._target_='imblearn.under_sampling.TomekLink' cannot be imported: imblearn.under_sampling "
     r"has no 'TomekLink'; did you mean imblearn.under_sampling.TomekLinks\?"),
    (["strategy=tomek_links", "strategy.sampler.sampling_strategy=0.5"],
     r"^strategy.sampler.sampling_strategy=0.5 is not allowed for imblearn.under_sampling.TomekLinks, which removes "
     r"the rows it judges noisy rather than aiming at a ratio; use all, auto, majority, not majority, not minority\.$"),
    (["strategy=enn", "strategy.prior_correction=yes"], r"^strategy.prior_correction='yes' is not allowed"),
])
def test_a_bad_sampler_setting_is_one_sentence_naming_its_key(compose, overrides, message) -> None:
    with pytest.raises(ConfigError, match=message):
        build("strategy", compose(*overrides))


def test_a_sampler_typo_on_the_command_line_stops_before_the_data_is_loaded(run_cli) -> None:
    line = one_sentence(run_cli("strategy=near_miss", "+strategy.sampler.n_neighbours=5", "dataset=file",
                                "dataset.path=nowhere.csv", "dataset.target=y"))
    assert line.startswith("imbexp: error: strategy.sampler.n_neighbours is not a parameter of "
                           "imblearn.under_sampling.NearMiss; did you mean strategy.sampler.n_neighbors?")


# --------------------------------------------------------------------------- data a sampler cannot take

def test_missing_values_categorical_columns_and_too_few_minority_rows_are_one_sentence(data) -> None:
    X, y, _ = data
    holes = X.copy()
    holes.iloc[3, 1] = np.nan
    with pytest.raises(DataError, match=r"^strategy enn \(strategy.sampler._target_='imblearn.under_sampling."
                                        r"EditedNearestNeighbours'\) cannot use rows with missing values; fill them"):
        ImblearnSampler({"_target_": "imblearn.under_sampling.EditedNearestNeighbours"},
                        name="enn").fit_resample(holes, y)
    # a sampler that declares it takes them is given them
    out = sampler("imblearn.under_sampling.RandomUnderSampler").fit_resample(holes, y, random_state=0)
    assert out.n_rows == 2 * int((y == 1).sum())
    text = X.assign(plan=pd.Categorical(np.where(y == 1, "pro", "basic")))
    with pytest.raises(DataError, match=r"works on numeric columns only; the data has categorical columns \['plan'\] "
                                        r"\(encode them, or use a sampler that takes them: "
                                        r"imblearn.over_sampling.SMOTENC"):
        sampler("imblearn.under_sampling.TomekLinks").fit_resample(text, y)
    few = np.zeros(len(y), dtype=np.int8)
    few[:1] = 1
    with pytest.raises(DataError, match=r"^strategy smoteenn needs at least 2 minority rows in the training part; "
                                        r"it has 1\.$"):
        ImblearnSampler({"_target_": "imblearn.combine.SMOTEENN",
                         "smote": {"_target_": "imblearn.over_sampling.SMOTE"}}).fit_resample(X, few)
    few[:3] = 1  # 3 minority rows: NearMiss-1 averages over 3 nearest minority rows, not 4
    with pytest.raises(DataError, match=r"^strategy near_miss has too few rows for its neighbours "
                                        r"\(Expected n_neighbors.*\); the training part has 3 minority rows; "
                                        r"lower strategy.sampler.n_neighbors"):
        sampler("imblearn.under_sampling.NearMiss", n_neighbors=4).fit_resample(X, few)


def test_a_ratio_the_sampler_cannot_reach_names_its_key_its_value_and_the_ratios_allowed(data) -> None:
    X, y, _ = data
    n_min, n_maj = int((y == 1).sum()), int((y == 0).sum())
    current = n_min / n_maj
    below = round(current / 2, 4)  # under the training part's own ratio: neither kind reaches it
    words = rf"ratio of {current:.4g} \({n_min}/{n_maj} rows\); use a number "
    with pytest.raises(DataError, match=rf"^strategy.sampler.sampling_strategy={below} cannot be reached by "
                                        rf"strategy near_miss, which removes majority rows, .*{words}"
                                        rf"from {current:.4g} to 1\.$"):
        ImblearnSampler({"_target_": "imblearn.under_sampling.NearMiss", "sampling_strategy": below},
                        name="near_miss").fit_resample(X, y)
    for strategy in (RandomOversample(sampling_strategy=below), Smote(sampling_strategy=below)):
        with pytest.raises(DataError, match=rf"^strategy.sampling_strategy={below} cannot be reached by "
                                            rf"strategy {strategy.name}, which adds minority rows, .*{words}"
                                            rf"above {current:.4g} and at most 1\.$"):
            strategy.fit_resample(X, y)
    with pytest.raises(DataError, match=rf"^strategy.sampler.sampling_strategy={below} cannot be reached by "
                                        rf"strategy smote, .*{words}above "):
        sampler("imblearn.over_sampling.SMOTE", sampling_strategy=below).fit_resample(X, y)


def test_smote_k_neighbors_is_lowered_to_the_minority_rows_there_are(data, caplog) -> None:
    X, y, _ = data
    few = np.zeros(len(y), dtype=np.int8)
    few[:4] = 1
    out = sampler("imblearn.over_sampling.SMOTE", k_neighbors=5).fit_resample(X, few, random_state=0)
    assert (out.y == 1).sum() == (out.y == 0).sum()
    assert "strategy.sampler.k_neighbors=5 lowered to 3" in caplog.text


def test_kmeans_smote_that_finds_no_cluster_says_what_to_change(data) -> None:
    X, y, _ = data
    # imbalanced-learn's own threshold: a cluster must be at least half minority
    with pytest.raises(DataError, match=r"^strategy kmeans_smote found no cluster with enough minority rows: .*"
                                        r"lower either, or give strategy.sampler.kmeans_estimator more clusters\.$"):
        sampler("imblearn.over_sampling.KMeansSMOTE", cluster_balance_threshold="auto").fit_resample(X, y)


def test_the_kmeans_smote_preset_fills_clusters_of_a_small_imbalanced_set(compose, data) -> None:
    X, y, _ = data
    out = build("strategy", compose("strategy=kmeans_smote")).fit_resample(X, y, random_state=0)
    assert (out.y == 1).sum() > (y == 1).sum()


# --------------------------------------------------------------------------- weights through every kind

def test_rows_a_sampler_selects_keep_their_own_weights(data) -> None:
    X, y, weight = data
    out = sampler("imblearn.under_sampling.TomekLinks").fit_resample(X, y, weight)
    assert out.indices is not None and 0 < len(y) - out.n_rows < 200  # some majority rows were dropped
    np.testing.assert_array_equal(out.sample_weight, weight[out.indices])
    pd.testing.assert_frame_equal(out.X.reset_index(drop=True), X.iloc[out.indices].reset_index(drop=True))


def test_repeated_rows_carry_their_source_rows_weight(data) -> None:
    X, y, weight = data
    for strategy in (RandomOversample(sampling_strategy=1.0),
                     sampler("imblearn.over_sampling.RandomOverSampler")):
        out = strategy.fit_resample(X, y, weight, random_state=0)
        assert (out.y == 1).sum() == (out.y == 0).sum()
        np.testing.assert_array_equal(out.sample_weight, weight[out.indices])
        counts = np.bincount(out.indices, minlength=len(y))
        assert counts[y == 0].max() == 1 and counts[y == 1].max() > 1  # majority once, minority repeated
        # the minority's weight grew as its rows did: each source row's weight times its copies
        assert out.sample_weight[out.y == 1].sum() == pytest.approx((counts * weight)[y == 1].sum())


@pytest.mark.parametrize("make", [
    lambda: Smote(sampling_strategy=0.5),
    lambda: sampler("imblearn.over_sampling.SMOTE", sampling_strategy=0.5),
    lambda: sampler("imblearn.combine.SMOTEENN", sampling_strategy=0.5),
], ids=["smote", "imblearn-smote", "smote_enn"])
def test_synthesised_rows_take_their_class_mean_weight_and_kept_rows_their_own(data, make) -> None:
    X, y, weight = data
    out = make().fit_resample(X, y, weight, random_state=0)
    assert out.indices is None
    # an input row is found among the output by its values: it keeps its weight
    by_row = {(tuple(row), label): w for row, label, w in zip(X.to_numpy().tolist(), y, weight, strict=True)}
    made = out.X.to_numpy().tolist()
    kept = np.array([(tuple(row), label) in by_row for row, label in zip(made, out.y, strict=True)])
    assert kept.sum() > 0.8 * len(y) and (~kept).sum() > 0.2 * (y == 1).sum()
    for i in np.flatnonzero(kept)[:300]:
        assert out.sample_weight[i] == by_row[(tuple(made[i]), out.y[i])]
    assert np.all(out.y[~kept] == 1)  # only minority rows are made up
    np.testing.assert_allclose(out.sample_weight[~kept], weight[y == 1].mean())


def test_without_row_weights_every_sampler_gives_weight_1(data) -> None:
    X, y, _ = data
    for target in ("imblearn.combine.SMOTETomek", "imblearn.under_sampling.ClusterCentroids"):
        out = sampler(target).fit_resample(X, y, random_state=0)
        assert np.all(out.sample_weight == 1), target
    assert not ImblearnSampler.weights_rows  # so any model takes it, with or without sample_weight


def test_cluster_centroids_keep_the_minority_weights_and_give_centroids_the_majority_mean(data) -> None:
    X, y, weight = data
    out = sampler("imblearn.under_sampling.ClusterCentroids").fit_resample(X, y, weight, random_state=0)
    assert (out.y == 0).sum() == (y == 1).sum()
    np.testing.assert_allclose(np.sort(out.sample_weight[out.y == 1]), np.sort(weight[y == 1]))
    np.testing.assert_allclose(out.sample_weight[out.y == 0], weight[y == 0].mean())


def test_weighting_and_downsampling_multiply_the_rows_own_weights(data) -> None:
    X, y, weight = data
    out = ClassWeight(minority_weight=4).fit_resample(X, y, weight)
    np.testing.assert_allclose(out.sample_weight, weight * np.where(y == 1, 4, 1))
    balanced = ClassWeight().fit_resample(X, y, weight)  # balanced: equal weighted totals
    assert balanced.sample_weight[y == 1].sum() == pytest.approx(balanced.sample_weight[y == 0].sum())
    down = DownsampleUpweight(downsample_factor=5).fit_resample(X, y, weight, random_state=0)
    np.testing.assert_allclose(down.sample_weight, weight[down.indices] * np.where(down.y == 0, 5, 1))


# --------------------------------------------------------------------------- the prior correction

def test_the_odds_ratio_is_the_one_between_the_weighted_shares(data) -> None:
    X, y, weight = data
    weighted = ClassWeight(minority_weight=4, prior_correction=True)
    weighted.fit_resample(X, y, weight)
    assert weighted._prior_odds_ratio == pytest.approx(1 / 4)  # weighting the minority by w: odds x w
    over = RandomOversample(prior_correction=True)
    out = over.fit_resample(X, y, weight, random_state=0)
    given, trained = positive_share(y, weight), positive_share(out.y, out.sample_weight)
    assert over._prior_odds_ratio == pytest.approx(given / (1 - given) * (1 - trained) / trained)
    assert prior_odds_ratio(y, weight, y, weight) == 1.0
    p = np.array([0.1, 0.5, 0.9])
    assert np.all(over.correct_probabilities(p) < p)  # more positives trained on: scores come down
    np.testing.assert_array_equal(RandomOversample().correct_probabilities(p), p)  # off by default


def test_downsample_keeps_its_nominal_correction(data) -> None:
    X, y, weight = data
    strategy = Downsample(downsample_factor=7, prior_correction=True)
    strategy.fit_resample(X, y, weight, random_state=0)
    p = np.array([0.2, 0.6])
    beta = 1 / 7
    np.testing.assert_allclose(strategy.correct_probabilities(p), beta * p / (beta * p - p + 1))


@pytest.mark.parametrize("make", [
    lambda correct: RandomOversample(sampling_strategy=1.0, prior_correction=correct),
    lambda correct: sampler("imblearn.over_sampling.SMOTE", sampling_strategy=1.0) if not correct else
    ImblearnSampler({"_target_": "imblearn.over_sampling.SMOTE", "sampling_strategy": 1.0}, prior_correction=True),
], ids=["oversample", "imblearn-smote"])
def test_prior_correction_brings_the_mean_prediction_back_to_the_prevalence(make) -> None:
    """Logistic regression on data whose true model is logistic (no interaction term), trained on
    balanced oversampled rows: without the correction its mean prediction is several times the
    prevalence; with it, within 0.01 of the test part's positive share (5 %): the test share's
    own standard error is 0.0022 on 10,000 rows, the fitted intercept's error adds about as
    much again, and the uncorrected mean is beyond 0.15."""
    from imbexp.datasets import KnownProb

    dataset = KnownProb(rows=20_000, features=4, minority_fraction=0.05, interaction=0.0, random_state=1).load()
    X, y = dataset.X, dataset.y
    train, test = np.arange(10_000), np.arange(10_000, 20_000)
    prevalence = float(y[test].mean())
    means = {}
    for correct in (False, True):
        strategy = make(correct)
        training = strategy.fit_resample(X.iloc[train], y[train], random_state=0)
        model = LogisticRegression(max_iter=500).fit(training.X, training.y, sample_weight=training.sample_weight)
        means[correct] = float(strategy.correct_probabilities(model.predict_proba(X.iloc[test])[:, 1]).mean())
    assert means[True] == pytest.approx(prevalence, abs=0.01)
    assert means[False] > 3 * prevalence


# --------------------------------------------------------------------------- names and sweeps

@pytest.mark.parametrize(("overrides", "label", "report_label", "factor"), [
    (["strategy=tomek_links"], "tomek_links", "tomek_links", None),
    (["strategy=near_miss", "strategy.sampler.version=2"], "near_miss v2", "near_miss v2", None),
    (["strategy=smote_enn", "strategy.sampler.sampling_strategy=0.5"], "smote_enn r=0.5", "smote_enn", 0.5),
    (["strategy=cluster_centroids", "strategy.sampler.sampling_strategy=0.4", "strategy.prior_correction=true"],
     "cluster_centroids r=0.4 +prior", "cluster_centroids +prior", 0.4),
    (["strategy=enn", "strategy.sampler.sampling_strategy=all"], "enn all", "enn all", None),
    (["strategy=imblearn", "strategy.sampler._target_=imblearn.under_sampling.TomekLinks"],
     "tomek_links", "tomek_links", None),
    (["strategy=oversample", "strategy.prior_correction=true"], "oversample r=1 +prior", "oversample +prior", 1.0),
    (["strategy=class_weight", "strategy.prior_correction=true"], "class_weight w=balanced +prior",
     "class_weight +prior", None),
])
def test_run_names_and_report_labels_read_well(compose, overrides, label, report_label, factor) -> None:
    strategy = build("strategy", compose(*overrides))
    assert (strategy.label(), strategy.report_label(), strategy.factor()) == (label, report_label, factor)


@pytest.mark.smoke
def test_a_sweep_searches_a_samplers_sampling_strategy(run_cli, imbexp_home, mlflow_client, tmp_path) -> None:
    """A user's own sweep file, as they would write it for any strategy."""
    study_name = "near-miss-ratio"
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "near_miss_ratio.yaml").write_text(
        "# @package _global_\n"
        "defaults:\n  - override /strategy: near_miss\n  - override /hydra/sweeper: imbexp_optuna\n"
        "hydra:\n  sweeper:\n    n_trials: 2\n"
        "    params:\n      strategy.sampler.sampling_strategy: interval(0.2, 1.0)\n")
    done = run_cli("-m", "sweep=near_miss_ratio", f"hydra.searchpath=[file://{tmp_path.as_posix()}]",
                   f"hydra.sweeper.study_name={study_name}", "hydra.sweeper.sampler.seed=1",
                   "model=logistic_regression", "dataset.rows=2000", "metrics.bootstrap=0",
                   "tracking.experiment=sampler-sweep")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{imbexp_home.as_posix()}/runs/optuna.db")
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 2
    experiment = mlflow_client.get_experiment_by_name("sampler-sweep")
    by_id = {run.info.run_id: run for run in mlflow_client.search_runs([experiment.experiment_id])}
    for trial in trials:
        ratio = trial.params["strategy.sampler.sampling_strategy"]
        assert 0.2 <= ratio <= 1.0
        run = by_id[trial.user_attrs["mlflow_run_id"]]
        # the report's axis: the searched number, named by its key under strategy
        assert run.data.tags["imbexp.factor_name"] == "sampler.sampling_strategy"
        assert run.data.metrics["imbexp.factor"] == pytest.approx(ratio)
        assert run.data.tags["imbexp.label"] == "near_miss v1"
        # NearMiss kept majority rows for minority / majority = ratio
        share = run.data.metrics["train_positive_fraction"]
        assert share / (1 - share) == pytest.approx(ratio, rel=0.1)
