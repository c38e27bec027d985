"""One builder for every `_target_` component, and the config checked as a table of rules:
a typo, a missing capability or a bad constructor value is one sentence, before any data loads."""

from __future__ import annotations

import pytest

from imbexp import components, models
from imbexp.config import known_keys, validate
from imbexp.errors import ConfigError
from imbexp.run import build_strategy, experiment
from imbexp.strategies import Strategy

#: a dataset that cannot be loaded: a check that runs before the data names its own key, not this
NO_DATA = ["dataset=file", "dataset.path=nowhere.csv", "dataset.target=y"]
EASY_ENSEMBLE = ["~model.estimator",
                 "+model.estimator={_target_:imblearn.ensemble.EasyEnsembleClassifier,n_estimators:3}"]


def _error_line(done) -> str:
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("imbexp: error: ")]
    return line


CLI_REFUSED = {
    "strategy typo": (["strategy=downsample_upweight", "+strategy.downsample_factr=3"],
                      "imbexp: error: strategy.downsample_factr is not a parameter of "
                      "imbexp.strategies.DownsampleUpweight; did you mean strategy.downsample_factor?"),
    "lightgbm typo": (["+model.estimator.n_estimatorz=5"],
                      "model.estimator.n_estimatorz is not a parameter of lightgbm.sklearn.LGBMClassifier "
                      "nor a LightGBM parameter; did you mean model.estimator.n_estimators?"),
    "nested sklearn typo": (["model=logistic_regression", "+model.estimator.estimator.max_iters=5"],
                            "model.estimator.estimator.max_iters is not a parameter of "
                            "sklearn.linear_model.LogisticRegression; did you mean "
                            "model.estimator.estimator.max_iter?"),
    "bad sklearn value": (["model=logistic_regression", "model.estimator.estimator.C=-1"],
                          "model.estimator.estimator.C=-1 is not allowed; use a float in the range (0.0, inf]"),
    "objective typo": (["+objective.metrik=f1"],
                       "objective.metrik is not a key of objective; did you mean objective.metric?"),
    "no sample_weight for a weighting strategy": (
        ["strategy=downsample_upweight", *EASY_ENSEMBLE],
        "model.estimator._target_='imblearn.ensemble.EasyEnsembleClassifier' takes no sample_weight in fit, "
        "and strategy downsample_upweight weights rows; use a strategy that does not (downsample, imblearn, "
        "none, oversample, smote)"),
    "model=easy_ensemble with a weighting strategy": (
        ["model=easy_ensemble", "strategy=downsample_upweight"],
        "model.estimator.estimator._target_='imblearn.ensemble.EasyEnsembleClassifier' takes no sample_weight in "
        "fit, and strategy downsample_upweight weights rows; use a strategy that does not ("),
}


@pytest.mark.parametrize("case", list(CLI_REFUSED))
def test_mistakes_are_one_sentence_before_the_data_is_loaded(run_cli, case: str) -> None:
    args, message = CLI_REFUSED[case]
    line = _error_line(run_cli(*args, *NO_DATA, "tracking.experiment=components"))
    assert message in line  # not "dataset.path='nowhere.csv' does not exist": nothing was loaded


@pytest.mark.parametrize(("section", "typo", "suggested"), [
    ("objective", "metrik", "metric"),
    ("threshold", "min_recal", "min_recall"),
    ("metrics", "ece_bin", "ece_bins"),
    ("deployment", "prevalance", "prevalence"),
    ("tracking", "expriment", "experiment"),
])
def test_unknown_keys_of_each_section_are_refused_with_the_close_key(compose, section, typo, suggested) -> None:
    assert suggested in known_keys()[section]  # read from conf/config.yaml, not a second list
    validate(compose())
    with pytest.raises(ConfigError) as error:
        validate(compose(f"+{section}.{typo}=1"))
    assert str(error.value).startswith(f"{section}.{typo} is not a key of {section}; "
                                       f"did you mean {section}.{suggested}? its keys: ")


def test_calibration_is_a_plain_value_not_a_map(compose) -> None:
    with pytest.raises(ConfigError, match=r"^calibration=\{'method': 'sigmoid'\} is not allowed; use one of none"):
        validate(compose("calibration={method:sigmoid}"))


@pytest.mark.parametrize(("overrides", "message"), [
    (["model=logistic_regression", "model.estimator.estimator._target_=sklearn.svm.LinearSVC"],
     "model.estimator.estimator._target_='sklearn.svm.LinearSVC' has no predict_proba"),
    (["model=random_forest", "model.estimator.estimator.n_estimators=0"],
     "model.estimator.estimator.n_estimators=0 is not allowed; use an int in the range [1, inf)"),
    (["model.estimator._target_=lightgbm.LGBMClassifer"],
     "model.estimator._target_='lightgbm.LGBMClassifer' cannot be imported: lightgbm has no 'LGBMClassifer'; "
     "did you mean lightgbm.LGBMClassifier?"),
    (["model.estimator._target_=lightgbmx.LGBMClassifier"],
     "model.estimator._target_='lightgbmx.LGBMClassifier' cannot be imported: there is no module 'lightgbmx'."),
    (["model=logistic_regression", "+model.estimator.estimator.l1_ratio=2"],
     "model.estimator.estimator.l1_ratio=2 is not allowed"),
])
def test_models_are_checked_when_built(compose, overrides, message) -> None:
    cfg = compose(*overrides)
    with pytest.raises(ConfigError) as error:
        models.build_model(cfg.model, 0, strategy=build_strategy(cfg.strategy))
    assert str(error.value).startswith(message)


def test_lightgbm_aliases_and_its_own_parameters_are_accepted(compose) -> None:
    cfg = compose("+model.estimator.min_data_in_leaf=5", "+model.estimator.feature_fraction_bynode=0.5")
    model = models.build_model(cfg.model, 0)
    assert model.get_params()["min_data_in_leaf"] == 5


def test_a_model_without_sample_weight_runs_with_a_strategy_that_weights_nothing(compose) -> None:
    assert not models.takes_sample_weight(models.build_model(compose(*EASY_ENSEMBLE).model, 0))
    cfg = compose("dataset=breast_cancer", "strategy=none", *EASY_ENSEMBLE, "metrics.bootstrap=0",
                  "tracking.plots=false", "tracking.experiment=components")
    result = experiment(cfg)
    assert 0.5 < result.metrics["test_roc_auc"] <= 1
    weighted = compose("strategy=class_weight", *EASY_ENSEMBLE)
    with pytest.raises(ConfigError, match="strategy class_weight weights rows"):
        models.build_model(weighted.model, 0, strategy=build_strategy(weighted.strategy))


def test_every_strategy_says_whether_it_weights_rows(compose) -> None:
    for name in ("none", "downsample", "downsample_prior", "oversample", "smote"):
        assert not build_strategy(compose(f"strategy={name}").strategy).weights_rows, name
    for name in ("downsample_upweight", "class_weight"):
        assert build_strategy(compose(f"strategy={name}").strategy).weights_rows, name


def test_the_builder_names_the_key_path_of_each_level() -> None:
    spec = {"_target_": "imbexp.models.with_preprocessing", "scale": True,
            "estimator": {"_target_": "sklearn.linear_model.LogisticRegression", "C": 2.0}}
    built = components.build(spec, "model.estimator")
    assert built.steps[-1][1].C == 2.0
    with pytest.raises(ConfigError, match=r"^model.estimator.scal is not a parameter of "
                                          r"imbexp.models.with_preprocessing; did you mean model.estimator.scale\?"):
        components.build({**spec, "scal": True}, "model.estimator")
    with pytest.raises(ConfigError, match=r"^dataset.n_rows is not a parameter of imbexp.datasets.synthetic; "
                                          r"did you mean dataset.rows\?"):
        components.build({"_target_": "imbexp.datasets.synthetic", "n_rows": 10}, "dataset")
    with pytest.raises(ConfigError, match=r"^dataset cannot be built from 'fractions.Fraction': ValueError: "):
        components.build({"_target_": "fractions.Fraction", "numerator": "many"}, "dataset")
    with pytest.raises(ConfigError, match=r"^dataset._target_ is missing; pick a dataset with dataset=NAME\.$"):
        components.build({"n_rows": 10}, "dataset")
    labels = components.build({"_target_": "imbexp.datasets.synthetic", "rows": 500}, "dataset",
                              target=lambda rows: rows)  # the same parameters, another callable
    assert labels == 500


def test_a_strategy_target_must_be_a_strategy(compose) -> None:
    assert isinstance(build_strategy(compose().strategy), Strategy)
    with pytest.raises(ConfigError, match="is not a strategy"):
        build_strategy(compose("strategy._target_=sklearn.linear_model.LogisticRegression").strategy)


def test_a_sampler_setting_it_does_not_take_is_named_with_the_close_one() -> None:
    from imbexp.sweeping._samplers import make_sampler
    from imbexp.sweeping._space import parse_search_space

    space = parse_search_space({"strategy.downsample_factor": "interval(1, 10)"}, [], None)
    assert make_sampler({"_target_": "optuna.samplers.TPESampler", "seed": 1}, space, 1) is not None
    with pytest.raises(ConfigError, match=r"^hydra.sweeper.sampler.seeds is not a parameter of tpe; "
                                          r"did you mean hydra.sweeper.sampler.seed\?"):
        make_sampler({"_target_": "optuna.samplers.TPESampler", "seeds": 1}, space, 1)


def test_a_search_space_function_is_located_with_one_sentence() -> None:
    assert components.locate("imbexp.datasets.synthetic", "hydra.sweeper.custom_search_space").__name__ == "synthetic"
    with pytest.raises(ConfigError, match=r"^hydra.sweeper.custom_search_space='imbexp.datasets.synthetik' cannot "
                                          r"be imported: imbexp.datasets has no 'synthetik'; did you mean "
                                          r"imbexp.datasets.synthetic\?$"):
        components.locate("imbexp.datasets.synthetik", "hydra.sweeper.custom_search_space")
