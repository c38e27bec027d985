"""The sweeper's logic without Hydra's app: grammar, samplers, directions, storage, stop rule."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from imbexp.config import Objective
from imbexp.errors import ConfigError
from imbexp.sweeping import (
    SweepSettings,
    check_keys,
    make_sampler,
    open_storage,
    parse_param,
    parse_search_space,
    resolve_directions,
)
from imbexp.sweeping._study import admitted, check_space_conflicts, load_study, requeue

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize(("expression", "expected"), [
    ("interval(1, 10)", FloatDistribution(1.0, 10.0)),
    ("tag(log, interval(1, 300))", FloatDistribution(1.0, 300.0, log=True)),
    ("range(1, 5)", IntDistribution(1, 4)),  # stops before 5, as everywhere in Hydra
    ("range(0, 20, 5)", IntDistribution(0, 15, step=5)),
    ("range(0.5, 2.0, 0.5)", FloatDistribution(0.5, 1.5, step=0.5)),
    ("tag(log, range(8, 129))", IntDistribution(8, 128, log=True)),
    ("choice(none, smote, 3)", CategoricalDistribution(("none", "smote", 3))),
    ("none,smote", CategoricalDistribution(("none", "smote"))),
])
def test_the_official_grammar_reads_into_optuna_distributions(expression, expected) -> None:
    assert parse_param("k", expression) == expected


def test_a_plain_value_is_fixed_for_every_trial() -> None:
    space = parse_search_space({"strategy.downsample_factor": "interval(1, 10)"}, ["dataset.rows=3000"])
    assert space.fixed == {"dataset.rows": "3000"}
    assert space.names == ["strategy.downsample_factor"]


@pytest.mark.parametrize(("expression", "words"), [
    ("interval(1,", "cannot be parsed"),
    ("interval(10, 1)", "low 10.0 > high 1.0"),
    ("tag(log, interval(0, 10))", "log scale needs low > 0"),
    ("tag(log, interval(-1, 10))", "log scale needs low > 0"),
    ("range(5, 1)", "is empty"),
    ("tag(log, range(1, 100, 5))", "needs step 1"),
    ("tag(shuffle2, interval(1, 2))", "only tag allowed is log"),
])
def test_a_malformed_expression_is_one_sentence_naming_the_key(expression, words) -> None:
    with pytest.raises(ConfigError) as error:
        parse_param("strategy.downsample_factor", expression)
    message = str(error.value)
    assert "strategy.downsample_factor" in message and words in message
    assert "\n" not in message


def test_command_line_arguments_win_over_preset_params_and_nested_keys_flatten() -> None:
    space = parse_search_space({"strategy": {"downsample_factor": "interval(1, 100)"}},
                               ["strategy.downsample_factor=choice(1, 2)"])
    assert space.params[0].distribution == CategoricalDistribution((1, 2))


def test_conditional_params_are_sampled_only_in_their_branch() -> None:
    space = parse_search_space(
        {"strategy": "choice(none, downsample_upweight, class_weight)"},
        conditional_params={"strategy=downsample_upweight": {"strategy.downsample_factor": "tag(log, interval(1, 50))"},
                            "strategy=class_weight": {"strategy.minority_weight": "interval(1, 50)"}})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = {}
    for _ in range(30):
        trial = study.ask()
        values = space.suggest(trial)
        study.tell(trial, 0.0)
        seen[values["strategy"]] = set(values)
        assert space.overrides(values)[0] == f"strategy={values['strategy']}"
    assert seen["none"] == {"strategy"}
    assert seen["downsample_upweight"] == {"strategy", "strategy.downsample_factor"}
    assert seen["class_weight"] == {"strategy", "strategy.minority_weight"}


@pytest.mark.parametrize(("conditional", "words"), [
    ({"strategy=smote": {"x": "interval(1, 2)"}}, "never takes"),
    ({"model=lightgbm": {"x": "interval(1, 2)"}}, "must read PARAM=VALUE"),
])
def test_a_bad_condition_is_a_config_error(conditional, words) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_search_space({"strategy": "choice(none, downsample)"}, conditional_params=conditional)


def test_a_key_missing_from_the_config_is_named() -> None:
    cfg = OmegaConf.create({"strategy": {"downsample_factor": 10}, "seed": 0})
    space = parse_search_space({"strategy.downsample_factor": "interval(1, 10)",
                                "strategy.downsample_facter": "interval(1, 10)"})
    with pytest.raises(ConfigError, match="'strategy.downsample_facter' is not in the config"):
        check_keys(space, lambda overrides: cfg, lambda name: name == "strategy")
    check_keys(parse_search_space({"strategy": "choice(a, b)", "+extra": "interval(1, 2)"}),
               lambda overrides: cfg, lambda name: name == "strategy")


def test_the_grid_is_every_discrete_value_and_a_continuous_range_is_refused() -> None:
    space = parse_search_space({"a": "choice(1, 2, 4)", "b": "range(0, 3)"})
    assert space.grid() == {"a": [1, 2, 4], "b": [0, 1, 2]} and space.grid_size() == 9
    with pytest.raises(ConfigError, match="continuous"):
        parse_search_space({"a": "interval(1, 2)"}).grid()


@pytest.mark.parametrize("name", ["tpe", "random", "grid", "cmaes", "nsgaii", "nsgaiii", "qmc"])
def test_every_named_sampler_builds(name) -> None:
    space = parse_search_space({"a": "choice(1, 2)", "b": "range(0, 3)"})
    sampler = make_sampler(name, space, n_objectives=1)
    assert isinstance(sampler, optuna.samplers.BaseSampler)


@pytest.mark.parametrize("name", ["tpe", "random", "grid", "cmaes", "nsgaii", "nsgaiii", "gp", "qmc"])
def test_every_sampler_config_builds_its_sampler_with_the_official_fields(name) -> None:
    """hydra/sweeper/sampler=NAME, every field at its default (null: Optuna's own)."""
    import dataclasses

    from hydra_plugins.imbexp_sweeper.config import SAMPLER_CONFIGS

    spec = dataclasses.asdict(SAMPLER_CONFIGS[name]())
    space = parse_search_space({"a": "choice(1, 2)", "b": "range(0, 3)"})
    if name == "gp" and importlib.util.find_spec("torch") is None:
        with pytest.raises(ConfigError, match="sampler=gp needs PyTorch"):
            make_sampler(spec, space, n_objectives=1)
        return
    sampler = make_sampler(spec, space, n_objectives=1)
    assert type(sampler).__name__ == spec["_target_"].rsplit(".", 1)[1]


def test_the_official_plugins_own_sampler_targets_are_read_and_motpe_is_explained() -> None:
    space = parse_search_space({"a": "interval(0, 1)"})
    official = "hydra_plugins.hydra_optuna_sweeper."
    sampler = make_sampler({"_target_": f"{official}_impl.create_nsgaii_sampler", "population_size": 10,
                            "mutation": None, "seed": 1}, space, 2)
    assert isinstance(sampler, optuna.samplers.NSGAIISampler)
    with pytest.raises(ConfigError, match="motpe was removed in Optuna 4.0; use tpe"):
        make_sampler({"_target_": f"{official}config.raise_motpe_removed"}, space, 1)
    independent = {"_target_": "optuna.samplers.RandomSampler", "seed": 3}
    sampler = make_sampler({"_target_": "optuna.samplers.QMCSampler", "independent_sampler": independent}, space, 1)
    assert isinstance(sampler._independent_sampler, optuna.samplers.RandomSampler)


def test_the_removed_search_space_key_points_to_params() -> None:
    with pytest.raises(ConfigError, match="search_space is the official Optuna sweeper's old key.*use "
                                          "hydra.sweeper.params"):
        SweepSettings.from_config({"search_space": {"strategy.downsample_factor": {"type": "float"}}})


def test_a_sampler_is_also_known_by_the_official_target_and_seeds_differ_per_worker() -> None:
    space = parse_search_space({"a": "interval(0, 1)"})
    spec = {"_target_": "optuna.samplers.RandomSampler", "seed": 7}
    draws = []
    for offset in (0, 1):
        study = optuna.create_study(sampler=make_sampler(spec, space, 1, seed_offset=offset))
        draws.append(space.suggest(study.ask())["a"])
    assert draws[0] != draws[1]
    with pytest.raises(ConfigError, match="not a known sampler"):
        make_sampler("annealing", space, 1)
    with pytest.raises(ConfigError, match="one objective"):
        make_sampler("cmaes", space, 2)


def test_direction_defaults_to_the_objective_and_a_count_mismatch_is_clear() -> None:
    objective = Objective(("pr_auc", "ece"), ("maximize", "minimize"))
    assert resolve_directions(None, objective) == ["maximize", "minimize"]
    assert resolve_directions(["minimize", "minimize"], objective) == ["minimize", "minimize"]
    with pytest.raises(ConfigError, match="1 entries but objective.metric names 2"):
        resolve_directions("maximize", objective)
    with pytest.raises(ConfigError, match="'upward' is not allowed"):
        resolve_directions(["upward", "minimize"], objective)


@pytest.mark.parametrize("values", [{"n_trials": 0}, {"n_jobs": 0}, {"max_failure_rate": 1.5},
                                    {"n_trials": "many"}])
def test_bad_sweeper_numbers_are_config_errors(values) -> None:
    with pytest.raises(ConfigError, match=f"hydra.sweeper.{next(iter(values))}="):
        SweepSettings.from_config(values)


def test_an_unopenable_storage_is_named_without_its_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        open_storage("postgresql+psycopg2://alice:s3cret@127.0.0.1:1/optuna")
    assert "s3cret" not in str(error.value) and "alice:***@127.0.0.1:1" in str(error.value)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError, match="storage='sqlite:///.*/a-file/optuna.db' cannot be opened"):
        open_storage(f"sqlite:///{tmp_path}/a-file/optuna.db")


def test_a_continued_study_must_search_the_same_ranges(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path}/optuna.db")
    old = parse_search_space({"strategy.downsample_factor": "interval(1, 10)"})
    study = load_study(storage, "s", ["maximize"], optuna.samplers.RandomSampler())
    trial = study.ask()
    old.suggest(trial)
    study.tell(trial, 1.0)
    check_space_conflicts(study, old)
    new = parse_search_space({"strategy.downsample_factor": "interval(1, 100)"})
    with pytest.raises(ConfigError, match="strategy.downsample_factor.*conflicts with study 's'"):
        check_space_conflicts(study, new)
    with pytest.raises(ConfigError, match="exists with direction"):
        load_study(storage, "s", ["minimize"], optuna.samplers.RandomSampler())


def test_concurrent_asks_past_n_trials_go_back_to_the_queue(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path}/optuna.db")
    study = load_study(storage, "s", ["maximize"], optuna.samplers.RandomSampler())
    for _ in range(2):
        trial = study.ask()
        study.tell(trial, 1.0)
    # two workers ask at once for the 3rd and last trial
    first, second = study.ask(), study.ask()
    assert admitted(study, first.number, 3)
    assert not admitted(study, second.number, 3)
    requeue(study, second._trial_id)
    assert study.trials[second.number].state == TrialState.WAITING
    study.tell(first, state=TrialState.FAIL)  # the admitted one fails: the queued one is next
    again = study.ask()
    assert again.number == second.number and admitted(study, again.number, 3)


def extra_space(cfg, trial) -> None:
    """A ``custom_search_space`` as the official plugin takes it."""
    trial.suggest_categorical("model.estimator.num_leaves", [15, 31])


def test_the_loop_without_hydra_fails_nan_trials_and_stops_at_n_trials(compose, tmp_path: Path, monkeypatch) -> None:
    from mlflow.tracking import MlflowClient

    from imbexp.sweeping import OptunaSweep, make_plan

    monkeypatch.setenv("IMBEXP_HOME", str(tmp_path))
    monkeypatch.delenv("IMBEXP_SWEEP_WORKER", raising=False)
    monkeypatch.setenv("IMBEXP_THREADS", "1")  # the sweep would set it for the whole process
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    # the real config (the plan checks what every trial shares), launched by a stand-in for Hydra
    cfg = compose("strategy=downsample_upweight", f"tracking.uri={uri}", "tracking.experiment=loop",
                  "dataset.name=tiny")
    launched = []

    def launch(overrides: list[str], job_index: int) -> float:
        values = dict(o.split("=", 1) for o in overrides)
        launched.append(values)
        factor = float(values["strategy.downsample_factor"])
        return float("nan") if factor < 2 else factor / 10

    settings = SweepSettings.from_config({
        "sampler": {"_target_": "optuna.samplers.RandomSampler", "seed": 0}, "n_trials": 4,
        "max_failure_rate": 1.0, "params": {"strategy.downsample_factor": "choice(1.0, 2.0, 4.0)"},
        "deduplicate": False,  # every trial launched, so each has its run (deduplication: test_sweep_study.py)
        "custom_search_space": "test_sweep_space.extra_space"})
    OptunaSweep(make_plan(settings, cfg, [], lambda overrides: cfg, lambda name: False), launch).run()

    study = optuna.load_study(study_name="tiny-strategy-model-custom", storage=f"sqlite:///{tmp_path}/runs/optuna.db")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(complete) == 4
    assert all(t.params["strategy.downsample_factor"] == 1.0 for t in failed)
    assert all(t.params["model.estimator.num_leaves"] in (15, 31) for t in study.trials)
    assert all("model.estimator.num_leaves" in values and values["tracking.run_id"] for values in launched)
    client = MlflowClient(uri)
    for trial in study.trials:
        status = client.get_run(trial.user_attrs["mlflow_run_id"]).info.status
        assert status == ("FINISHED" if trial.state == TrialState.COMPLETE else "FAILED")
    parent = client.get_run(study.user_attrs["mlflow_parent_run_id"])
    assert parent.data.metrics["best_valid_pr_auc"] == pytest.approx(max(t.value for t in complete))
