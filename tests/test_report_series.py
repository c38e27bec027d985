"""What a line, colour and legend entry of the report's figures stands for: labels that differ in
more than their numbers are never merged, a grid keeps each of its values, and a sweep's continuous
setting is binned between round values, each run in the bin that holds its value."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from imbexp import tracking
from imbexp.report._figures import factor_ticks, new_figure
from imbexp.report._tables import MAX_SERIES, factor_table, readable_series

TEN_STRATEGIES = ["none", "downsample", "downsample_upweight", "oversample", "smote", "smote_enn",
                  "enn", "near_miss v2", "tomek_links", "class_weight"]


def _runs(labels: list[str], metric: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"strategy_label": labels, "factor": np.nan, "factor_name": None,
                         "test_pr_auc": metric, "is_group": False})


def test_ten_strategies_stay_ten_series_and_no_two_are_averaged() -> None:
    assert readable_series(pd.Series(TEN_STRATEGIES)).tolist() == TEN_STRATEGIES
    runs = _runs(TEN_STRATEGIES, [0.1 * i for i in range(10)])
    table = factor_table(runs, ["test_pr_auc"]).set_index("series")
    assert sorted(table.index) == sorted(TEN_STRATEGIES)
    for number, name in enumerate(TEN_STRATEGIES):
        assert table.at[name, "runs"] == 1 and table.at[name, "test_pr_auc"] == 0.1 * number


def test_two_datasets_of_many_strategies_stay_apart() -> None:
    labels = pd.Series([f"{strategy} · {dataset}" for strategy in TEN_STRATEGIES for dataset in ("pima", "ecoli1")])
    assert readable_series(labels).tolist() == labels.tolist()


def test_a_grid_of_at_most_eight_values_keeps_each_value_exactly() -> None:
    for grid in ((1, 2, 5, 10, 20, 50, 100), (1, 3, 10, 30, 100, 300, 1000), (0.1, 0.2, 0.3, 0.4, 0.5)):
        for strategy in ("downsample_upweight w", "smote_enn sampling_strategy"):
            labels = ["none", "downsample", *(f"{strategy}={value!r}" for value in grid)]
            found = readable_series(pd.Series(labels)).tolist()
            assert found == ["none", "downsample", *(f"{strategy}={value:g}" for value in grid)], found
    # numbers rounded to three significant figures, still one series each
    assert readable_series(pd.Series([f"s w={w!r}" for w in (1.23456, 2.5e-05, 13.72819)])).tolist() == \
        ["s w=1.23", "s w=2.5e-05", "s w=13.7"]


def test_a_swept_setting_merges_only_the_bins_it_needs_each_value_in_its_own_bin() -> None:
    grid = (1, 2, 5, 10, 20, 50, 100, 200, 500)  # nine values: past the limit with the baseline
    labels = pd.Series(["none", *(f"downsample_upweight w={value}" for value in grid)])
    found = readable_series(labels)
    assert found.nunique() == MAX_SERIES, found.tolist()  # two merges, no more
    for value, text in zip(grid, found.iloc[1:], strict=True):
        _assert_in_bin(value, text)
    assert found.iloc[-1] != found.iloc[-2]  # the largest value is in a bin of its own: 200 and 500 apart


def test_forty_sampled_values_fall_in_the_round_bins_that_hold_them() -> None:
    values = np.exp(np.random.default_rng(0).uniform(0, np.log(100), 40))
    found = readable_series(pd.Series([f"downsample_upweight w={float(value)!r}" for value in values]))
    assert found.nunique() <= MAX_SERIES
    for value, text in zip(values, found, strict=True):
        _assert_in_bin(value, text)
    # binned by the value run, not its rounding: 19.995 (shown as 20) is in 10–20
    assert "downsample_upweight w 10–20" in set(found[(values > 19.99) & (values < 20)])


def _assert_in_bin(value: float, text: str) -> None:
    exact = re.search(r"w=([-\d.e+]+)$", text)
    if exact:
        assert float(exact[1]) == float(f"{value:.3g}"), (value, text)
        return
    low, high = re.search(r"w ([-\d.]+)–([-\d.]+)$", text).groups()
    assert float(low) <= value < float(high), (value, text)


def test_a_single_factor_is_one_tick_to_three_figures() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig, axes = new_figure(1, 1)
    ax = axes[0]
    ax.plot([13.72819], [0.5], marker="o")
    factor_ticks(ax, [13.72819])
    FigureCanvasAgg(fig).draw()
    low, high = ax.get_xlim()
    shown = [tick.get_text() for tick in ax.get_xticklabels() if low <= tick.get_position()[0] <= high]
    assert shown == ["13.7"]


def test_a_share_reads_in_plain_and_exponent_form() -> None:
    assert tracking.dataset_fact("0.00005") == tracking.dataset_fact("5e-05") == 5e-05
    assert tracking.dataset_fact(None, 0.25) == 0.25


def test_a_bins_line_is_its_mean_at_each_factor_not_a_path_through_its_runs() -> None:
    """Twelve runs of w between 1 and 2 at two values of f: one line of two points, each the
    mean of the runs at that f, not a zig-zag through the twelve."""
    from imbexp.report._figures import draw_against_factor

    w = np.linspace(1.05, 1.95, 12)
    f = np.repeat([2.0, 8.0], 6)
    metric = np.linspace(0.1, 0.9, 12)
    runs = pd.DataFrame({"strategy_label": [f"downsample_upweight w={float(value)!r}" for value in w], "factor": f,
                         "factor_name": "downsample_factor", "test_pr_auc": metric, "is_group": False})
    fig = draw_against_factor(runs, [("test_pr_auc", "PR-AUC")])
    lines = [line for line in fig.axes[0].get_lines() if line.get_label() == "downsample_upweight w 1–2"]
    assert len(lines) == 1
    assert lines[0].get_xdata().tolist() == [2.0, 8.0]
    assert np.allclose(lines[0].get_ydata(), [metric[:6].mean(), metric[6:].mean()])
