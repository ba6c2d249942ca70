"""Month-end forecasts: linear, recency-weighted (seed 004), weekday-seasonal, and the band."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from llmfinops.reports import forecast_month, forecast_spend
from llmfinops.reports._forecast import forecasts_table

from .conftest import priced

D = Decimal
Q = D("0.000001")


def _days(start: date, values: list[int | str]) -> dict[date, Decimal]:
    return {start + timedelta(days=i): D(str(v)) for i, v in enumerate(values)}


class TestForecastSpend:
    def test_flat_month(self):
        """$10 a day for 10 days: every method says $300 and the band is empty."""
        f = forecast_spend(_days(date(2026, 11, 1), [10] * 10), as_of=datetime(2026, 11, 11, tzinfo=UTC))
        assert (f.month_to_date_usd, f.linear_usd, f.weighted_usd, f.forecast_usd, f.low_usd, f.high_usd) == (
            D(100),
            D(300),
            D(300),
            D(300),
            D(300),
            D(300),
        )
        assert (f.method, f.seasonal_usd, f.elapsed_days, f.days_in_month) == ("weighted", None, D(10), 30)

    def test_seed_weights_oldest_first(self):
        """Weights 0.5, 0.7, 0.9, 1, 1, 1, 1 apply oldest to newest (seed 004's adjusted_forecast)."""
        f = forecast_spend(
            _days(date(2026, 11, 1), [1, 2, 3, 4, 5, 6, 7]), as_of=datetime(2026, 11, 8, tzinfo=UTC)
        )
        rate = (D("0.5") * 1 + D("0.7") * 2 + D("0.9") * 3 + 4 + 5 + 6 + 7) / D("6.1")
        assert f.linear_usd == D(120)
        assert f.daily_rate_usd == rate.quantize(Q)
        assert f.weighted_usd == (28 + 23 * rate).quantize(Q)

    def test_short_history_uses_the_last_weights(self):
        """With 3 complete days only the last 3 weights (all 1) are used."""
        f = forecast_spend(_days(date(2026, 11, 1), [3, 6, 9]), as_of=datetime(2026, 11, 4, tzinfo=UTC))
        assert f.daily_rate_usd == D(6)
        assert f.weighted_usd == D(18 + 27 * 6)

    def test_partial_day(self):
        """The rest of today is projected pro rata; linear uses fractional elapsed days."""
        daily = _days(date(2026, 11, 1), [4] * 9 + [2])
        f = forecast_spend(daily, as_of=datetime(2026, 11, 10, 12, tzinfo=UTC))
        assert (f.elapsed_days, f.month_to_date_usd) == (D("9.5"), D(38))
        assert f.linear_usd == (D(38) / D("9.5") * 30).quantize(Q)
        assert f.weighted_usd == D(38) + D("20.5") * 4

    def test_weekday_seasonality(self):
        """With 3+ weeks, weekday factors shape the projection: weekdays $10, weekends $4 -> $246."""
        start = date(2026, 10, 5)  # a Monday
        daily = {
            start + timedelta(days=i): D(4 if (start + timedelta(days=i)).weekday() >= 5 else 10)
            for i in range(29)
        }
        f = forecast_spend(daily, as_of=datetime(2026, 11, 3, tzinfo=UTC))
        assert (f.method, f.history_days, f.month_to_date_usd) == ("seasonal", 29, D(14))
        assert (f.seasonal_usd, f.forecast_usd, f.low_usd, f.high_usd) == (D(246), D(246), D(246), D(246))
        assert f.weekday_factors == (D("1.206897"),) * 5 + (D("0.482759"),) * 2
        plain = (D("0.5") * 10 + D("0.7") * 10 + D("0.9") * 10 + 10 + 4 + 4 + 10) / D("6.1")
        assert f.weighted_usd == (14 + 28 * plain).quantize(Q)

    def test_band_formula(self):
        """Band = 1.96 s sqrt(R + R^2/n): days $8 and $12, 28 days left."""
        f = forecast_spend(_days(date(2026, 11, 1), [8, 12]), as_of=datetime(2026, 11, 3, tzinfo=UTC))
        half = D("1.96") * D(3360).sqrt()
        assert f.forecast_usd == D(300)
        assert (f.low_usd, f.high_usd) == ((300 - half).quantize(Q), (300 + half).quantize(Q))

    def test_band_never_below_spent(self):
        """The low end is at least the spend already booked."""
        f = forecast_spend(_days(date(2026, 11, 1), [0, 100]), as_of=datetime(2026, 11, 3, tzinfo=UTC))
        assert (f.forecast_usd, f.low_usd) == (D(1500), D(100))

    def test_first_day_only_linear(self):
        """Before the first complete day only the linear estimate exists."""
        f = forecast_spend({date(2026, 11, 1): D(5)}, as_of=datetime(2026, 11, 1, 12, tzinfo=UTC))
        assert (f.method, f.weighted_usd, f.forecast_usd) == ("linear", None, D(300))


class TestForecastMonth:
    def test_from_logs_total_and_by_team(self, write_jsonl):
        """Forecast from JSONL for the total and per team, cut at the last call."""
        recs = [
            priced(team="a" if d % 2 else "b", ts=datetime(2026, 11, 1 + d, 12, tzinfo=UTC))
            for d in range(10)
        ]
        fs = forecast_month(write_jsonl(recs), by="team")
        total = fs[0]
        assert (total.scope, total.elapsed_days, total.month_to_date_usd) == ("total", D("9.5"), D("0.045"))
        assert total.linear_usd == (D("0.045") / D("9.5") * 30).quantize(Q)
        assert total.weighted_usd == D("0.045") + D("20.5") * D("0.0045")
        assert sorted(f.scope for f in fs[1:]) == ["team=a", "team=b"]
        table = forecasts_table(fs)
        assert table.rows[0]["scope"] == "total"

    def test_empty(self, tmp_path):
        """No records, no forecast."""
        p = tmp_path / "e.jsonl"
        p.write_text("")
        assert forecast_month(p) == []
