"""Per-class searched keys (``strategy.downsample_factor.<class>``): a trial gets the classes of one
parameter as one mapping override, which Hydra composes into the strategy's config."""

from __future__ import annotations

import optuna
import pytest

from imbexp.errors import ConfigError
from imbexp.sweeping import check_keys, parse_search_space

optuna.logging.set_verbosity(optuna.logging.WARNING)

GROUPS = ("strategy", "model", "dataset", "split", "threshold", "sweep", "calibration")


def _is_group(name: str) -> bool:
    return name in GROUPS


def _trial_overrides(space, seed: int = 0) -> tuple[dict, list[str]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    trial = study.ask()
    values = space.suggest(trial)
    return values, space.overrides(values)


def test_two_classes_searched_together_reach_the_trial_as_one_mapping(compose) -> None:
    base = ["strategy=downsample"]
    space = parse_search_space({"strategy.downsample_factor.cat": "interval(1, 10)",
                                "strategy.downsample_factor.dog": "choice(7, 9)",
                                "objective.metric": "pr_auc"})
    check_keys(space, lambda overrides: compose(*base, *overrides), _is_group)
    assert space.class_maps == {"strategy.downsample_factor"}
    values, overrides = _trial_overrides(space)
    assert set(values) == {"strategy.downsample_factor.cat", "strategy.downsample_factor.dog"}
    cat, dog = values["strategy.downsample_factor.cat"], values["strategy.downsample_factor.dog"]
    assert overrides == ["objective.metric=pr_auc", f"strategy.downsample_factor={{cat:{cat!r},dog:{dog}}}"]
    cfg = compose(*base, *overrides)
    assert dict(cfg.strategy.downsample_factor) == {"cat": pytest.approx(cat), "dog": dog}


def test_a_fixed_class_joins_the_searched_ones_and_a_mapping_keeps_its_other_classes(compose) -> None:
    base = ["strategy=downsample", "strategy.downsample_factor={a:2,b:3,c:4}"]
    space = parse_search_space({"strategy.downsample_factor": {"a": "tag(log, interval(1, 50))", "b": 5}})
    assert space.fixed == {"strategy.downsample_factor.b": "5"}
    check_keys(space, lambda overrides: compose(*base, *overrides), _is_group)
    values, overrides = _trial_overrides(space)
    a = values["strategy.downsample_factor.a"]
    assert overrides == [f"strategy.downsample_factor={{b:5,a:{a!r}}}"]
    assert space.fixed_overrides() == ["strategy.downsample_factor={b:5}"]
    factor = compose(*base, *overrides).strategy.downsample_factor
    assert dict(factor) == {"a": pytest.approx(a), "b": 5, "c": 4}  # Hydra merges into the mapping


def test_per_class_keys_under_a_condition_are_grouped_in_their_branch(compose) -> None:
    space = parse_search_space({"strategy": "choice(none, downsample)"}, conditional_params={
        "strategy=downsample": {"strategy.downsample_factor.0": "interval(1, 20)",
                                "strategy.downsample_factor.1": "interval(1, 2)"}})
    check_keys(space, lambda overrides: compose(*overrides), _is_group)
    assert space.class_maps == {"strategy.downsample_factor"}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(12):
        values = space.suggest(study.ask())
        overrides = space.overrides(values)
        seen.add(values["strategy"])
        if values["strategy"] == "downsample":
            zero, one = values["strategy.downsample_factor.0"], values["strategy.downsample_factor.1"]
            assert overrides == ["strategy=downsample", f"strategy.downsample_factor={{0:{zero!r},1:{one!r}}}"]
            assert dict(compose(*overrides).strategy.downsample_factor) == {0: pytest.approx(zero),
                                                                             1: pytest.approx(one)}
        else:
            assert overrides == ["strategy=none"]
    assert seen == {"none", "downsample"}


def test_an_objects_parameters_stay_plain_keys(compose) -> None:
    base = ["strategy=enn"]
    space = parse_search_space({"strategy.sampler.n_neighbors": "range(3, 6)"})
    check_keys(space, lambda overrides: compose(*base, *overrides), _is_group)
    assert space.class_maps == set()
    values, overrides = _trial_overrides(space)
    assert overrides == [f"strategy.sampler.n_neighbors={values['strategy.sampler.n_neighbors']}"]


@pytest.mark.parametrize(("params", "words"), [
    ({"strategy.prior_correction.a": "interval(1, 2)"},
     "hydra.sweeper.params key 'strategy.prior_correction.a' sets one class's value of strategy.prior_correction, "
     "which is 'false' in the config; a per-class key needs strategy.prior_correction to be a number or a mapping "
     "of classes."),
    ({"strategy.downsample_factor": "interval(1, 9)", "strategy.downsample_factor.a": "interval(1, 2)"},
     "hydra.sweeper.params has both strategy.downsample_factor and the per-class key "
     "'strategy.downsample_factor.a'; search strategy.downsample_factor as one value or per class, not both."),
])
def test_a_per_class_key_that_cannot_be_one_is_one_sentence(compose, params, words) -> None:
    space = parse_search_space(params)
    with pytest.raises(ConfigError) as error:
        check_keys(space, lambda overrides: compose("strategy=downsample", *overrides), _is_group)
    assert str(error.value) == words


def test_a_binary_sweep_searches_the_factor_of_each_class_code(run_cli, imbexp_home, mlflow_client) -> None:
    """End to end: two trials of a real sweep, each child run fitted with its own per-class map."""
    name = "per-class-factors"
    result = run_cli("-m", "strategy=downsample", "hydra/sweeper=imbexp_optuna", f"hydra.sweeper.study_name={name}",
                     "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.seed=0", "dataset.rows=3000",
                     "model.estimator.n_estimators=10", "tracking.experiment=per-class-factors",
                     "strategy.downsample_factor.0=interval(2, 10)", "strategy.downsample_factor.1=choice(1)")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{imbexp_home.as_posix()}/runs/optuna.db")
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 2
    for trial in trials:
        run = mlflow_client.get_run(trial.user_attrs["mlflow_run_id"])
        for key, value in trial.params.items():
            assert float(run.data.params[key]) == pytest.approx(value)
