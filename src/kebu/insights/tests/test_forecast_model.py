"""The forecasting maths on series built by hand: festivals found on the calendar, a spike learnt and put
back, an interval around the line that widens, and a backtest whose errors are checked by hand."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from kebu.insights import forecast as fc

MONDAY = date(2023, 1, 2)


def weeks(count: int, first: date = MONDAY) -> list[date]:
    return [first + timedelta(days=7 * i) for i in range(count)]


def shop_weeks(count: int, *, seed: int = 7, spike: float = 3.0) -> tuple[list[float], list[date]]:
    """A shop growing 4 yuan a week from 1,000, with a yearly swing of ±250, noise, and 双11 weeks selling
    ``spike`` times an ordinary week."""
    rng = np.random.default_rng(seed)
    starts = weeks(count)
    values = []
    for i, start in enumerate(starts):
        value = 1000 + 4 * i + 250 * np.sin(2 * np.pi * i / 52) + rng.normal(0, 30)
        if fc.event_of(start, fc.WEEK) == fc.DOUBLE_11:
            value *= spike
        values.append(float(value))
    return values, starts


@pytest.mark.parametrize(
    ("year", "new_year"),
    [(2024, date(2024, 2, 10)), (2025, date(2025, 1, 29)), (2026, date(2026, 2, 17))],
)
def test_spring_festival_is_the_first_day_of_the_lunar_year(year, new_year):
    assert fc.spring_festival(year) == new_year


def test_double_11_and_618_are_the_weeks_and_months_holding_their_day():
    assert fc.event_of(date(2025, 11, 10), fc.WEEK) == fc.DOUBLE_11  # Monday 10 – Sunday 16 November
    assert fc.event_of(date(2025, 11, 3), fc.WEEK) is None
    assert fc.event_of(date(2025, 11, 17), fc.WEEK) is None
    assert fc.event_of(date(2025, 6, 16), fc.WEEK) == fc.MID_YEAR_618
    assert fc.event_of(date(2025, 11, 1), fc.MONTH) == fc.DOUBLE_11
    assert fc.event_of(date(2025, 6, 1), fc.MONTH) == fc.MID_YEAR_618
    assert fc.event_of(date(2025, 7, 1), fc.MONTH) is None


def test_spring_festival_marks_the_two_weeks_around_it_and_the_month_it_falls_in():
    # 2025: Wednesday 29 January. The fortnight 23 January – 5 February lies mostly in the weeks of 20
    # and 27 January.
    marked = [start for start in weeks(10, date(2025, 1, 6)) if fc.event_of(start, fc.WEEK)]
    assert marked == [date(2025, 1, 20), date(2025, 1, 27)]
    assert fc.event_of(date(2025, 1, 1), fc.MONTH) == fc.SPRING_FESTIVAL
    assert fc.event_of(date(2025, 2, 1), fc.MONTH) is None
    assert fc.event_of(date(2024, 2, 1), fc.MONTH) == fc.SPRING_FESTIVAL
    assert fc.event_of(date(2024, 1, 1), fc.MONTH) is None


def test_the_double_11_spike_is_learnt_from_history_and_put_on_next_years_week():
    values, starts = shop_weeks(148)  # to the end of October 2025
    made = fc.forecast(values, starts, period=fc.WEEK, horizon=8)

    i = made.events.index(fc.DOUBLE_11)
    assert made.starts[i] == date(2025, 11, 10)
    assert made.mean[i] > 2 * made.mean[i - 1] and made.mean[i] > 2 * made.mean[i + 1]
    assert made.factors[fc.DOUBLE_11].factor == pytest.approx(3.0, rel=0.1)
    assert made.factors[fc.DOUBLE_11].occurrences == 2


def test_a_festival_seen_once_is_put_back_even_without_a_season():
    values, starts = shop_weeks(96)  # January 2023 to October 2024: one 双11, too short for a season
    made = fc.forecast(values, starts, period=fc.WEEK, horizon=4)

    assert not made.seasonal
    i = made.events.index(fc.DOUBLE_11)
    assert made.factors[fc.DOUBLE_11].occurrences == 1
    assert made.mean[i] == pytest.approx(made.factors[fc.DOUBLE_11].factor * made.mean[i - 1], rel=0.05)
    assert made.mean[i] > 2 * made.mean[i + 1]


def test_the_season_is_followed_when_two_years_are_known():
    values, starts = shop_weeks(110, spike=1.0)
    made = fc.forecast(values, starts, period=fc.WEEK, horizon=34)

    assert made.seasonal and made.model == "ETS(A,Ad,A)"
    # The swing peaks in weeks 13, 65, 117 and bottoms out in weeks 39, 91, 143: forecast steps 7 and 33.
    # It is 500 yuan deep; the trend adds back 104 over those 26 weeks.
    assert made.mean[7] - made.mean[33] > 300


def test_shorter_than_two_years_follows_the_trend_alone():
    values, starts = shop_weeks(80, spike=1.0)
    made = fc.forecast(values, starts, period=fc.WEEK, horizon=4)

    assert not made.seasonal and made.model == "ETS(A,Ad,N)"


def test_the_interval_holds_the_forecast_and_widens_with_the_horizon():
    values, starts = shop_weeks(150)
    made = fc.forecast(values, starts, period=fc.WEEK, horizon=26)

    assert np.all(made.lower < made.mean) and np.all(made.mean < made.upper)
    # An event period's band is scaled with its factor; the smooth model's band grows step by step.
    width = (made.upper - made.lower) / made.multipliers
    assert np.all(np.diff(width) >= -1e-6)
    assert width[-1] > 1.5 * width[0]


def test_a_wider_interval_level_gives_a_wider_band():
    values, starts = shop_weeks(60, spike=1.0)
    narrow = fc.forecast(values, starts, period=fc.WEEK, horizon=4, interval=0.8)
    wide = fc.forecast(values, starts, period=fc.WEEK, horizon=4, interval=0.95)

    assert np.all(wide.upper - wide.lower > narrow.upper - narrow.lower)


def test_the_forecast_never_goes_below_zero():
    values = [float(max(0, 500 - 40 * i)) for i in range(14)]  # a shop winding down to nothing
    made = fc.forecast(values, weeks(14), period=fc.WEEK, horizon=12)

    assert made.lower.min() >= 0 and made.mean.min() >= 0


def test_too_short_a_history_is_refused():
    with pytest.raises(ValueError):
        fc.forecast([100.0] * 11, weeks(11), period=fc.WEEK, horizon=4)


def test_mape_skips_periods_without_sales_and_says_how_many():
    # |100-110|/100 = 10%, |200-150|/200 = 25%; the zero week is skipped.
    assert fc.mape([100, 0, 200], [110, 5, 150]) == (pytest.approx(17.5), 1)
    assert fc.mape([0, 0], [1, 2]) == (None, 2)


def test_seasonal_naive_repeats_last_years_period_else_the_last_value_known():
    values = list(range(100))
    assert fc.seasonal_naive(values, target=70, horizon=4, season=52) == (18.0, fc.SEASONAL_NAIVE)
    assert fc.seasonal_naive(values, target=30, horizon=4, season=52) == (26.0, fc.LAST_VALUE)
    # Further ahead than a season: as many seasons back as it takes to be known at the origin.
    assert fc.seasonal_naive(values, target=30, horizon=14, season=12) == (6.0, fc.SEASONAL_NAIVE)
    assert fc.seasonal_naive(values, target=20, horizon=14, season=12) == (6.0, fc.LAST_VALUE)


def test_backtest_errors_match_a_hand_calculation():
    # Sales of t + 1 yuan in week t, for 70 weeks: the last 12 weeks, each forecast 4 weeks ahead.
    values = [float(t + 1) for t in range(70)]
    starts = weeks(70)
    tested = fc.backtest(values, starts, period=fc.WEEK, periods=12, horizon=4)

    assert [row.start for row in tested.rows] == starts[58:]
    # Baseline: week t repeats week t - 52, which sold t - 51; off by 52 / (t + 1).
    assert [row.baseline for row in tested.rows] == [float(t - 51) for t in range(58, 70)]
    by_hand = 100 * sum(52 / (t + 1) for t in range(58, 70)) / 12
    assert tested.mape_baseline == pytest.approx(by_hand)
    model_by_hand = 100 * sum(abs(r.actual - r.model) / r.actual for r in tested.rows) / 12
    assert tested.mape_model == pytest.approx(model_by_hand)
    assert tested.winner == "model"


def test_backtest_says_when_repeating_last_year_beats_the_model():
    # The same irregular year three times over: last year's week is exactly right, no model is.
    rng = np.random.default_rng(3)
    year = list(rng.uniform(500, 1500, 52))
    values = year * 3
    tested = fc.backtest(values, weeks(156), period=fc.WEEK, periods=12, horizon=4)

    assert tested.mape_baseline == 0
    assert tested.mape_model > 0
    assert tested.winner == "baseline"


def test_backtest_leaves_out_targets_with_too_little_history_before_them():
    values = [100.0 + i for i in range(20)]
    tested = fc.backtest(values, weeks(20), period=fc.WEEK, periods=12, horizon=4)

    # A forecast needs 12 weeks: the first target is week 15 (origin 12).
    assert [row.start for row in tested.rows] == weeks(20)[15:]
    assert all(row.baseline_kind == fc.LAST_VALUE for row in tested.rows)
    assert fc.backtest(values[:14], weeks(14), period=fc.WEEK, periods=12, horizon=4) is None


def test_event_factor_is_sales_against_the_ordinary_periods_on_either_side():
    # Three weeks either side of each 双11 week sell 100; the 双11 weeks sell 250 and 350: (250 + 350) / 200.
    starts = weeks(120)
    values = [100.0] * 120
    labels = [fc.event_of(s, fc.WEEK) for s in starts]
    spikes = iter([250.0, 350.0])
    for i, label in enumerate(labels):
        if label == fc.DOUBLE_11:
            values[i] = next(spikes)
    found = fc.event_factors(values, labels, fc.WEEK)

    assert found[fc.DOUBLE_11].factor == pytest.approx(3.0)
    assert found[fc.DOUBLE_11].occurrences == 2
    assert found[fc.MID_YEAR_618].factor == pytest.approx(1.0)
