"""Anomaly rules: mean + 3 sigma (seed 002), 3x the 7-day average and +50 % week over week (seed 004)."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from llmfinops.reports import detect_anomalies
from llmfinops.reports._anomaly import alerts_table, sigma_spikes, spike_vs_average, velocity

from .conftest import priced

D = Decimal
Q = D("0.000001")


class TestRules:
    def test_sigma_uses_the_trailing_window(self):
        """A value above mean + 3 sd of the values before it is flagged with that mean and threshold."""
        s = [D(1), D(3)] * 10 + [D(9)]
        hits = sigma_spikes(s, window=30, min_history=7, evaluate_from=0)
        mean, sd = statistics.mean(s[:20]), statistics.stdev(s[:20])
        assert [(i, m, thr.quantize(Q)) for i, m, _, thr in hits] == [(20, mean, (mean + 3 * sd).quantize(Q))]

    def test_sigma_window_slides(self):
        """Only the last `window` values count: an old burst does not hide a new spike."""
        s = [D(100)] * 5 + [D(1)] * 40 + [D(5)]
        assert [i for i, *_ in sigma_spikes(s, window=30, min_history=7, evaluate_from=0)] == [45]

    def test_sigma_needs_history_and_min_usd(self):
        """No verdict before min_history values; excesses below min_usd are ignored."""
        s = [D(1)] * 5 + [D(50)]
        assert sigma_spikes(s, window=30, min_history=7, evaluate_from=0) == []
        s = [D(1)] * 10 + [D("1.5")]
        assert sigma_spikes(s, window=30, min_history=7, evaluate_from=0, min_usd=D(1)) == []
        assert len(sigma_spikes(s, window=30, min_history=7, evaluate_from=0)) == 1

    def test_three_times_the_7_day_average(self):
        """A day above 3x the average of the previous 7 days (seed 004)."""
        assert spike_vs_average([D(10)] * 7 + [D(30)], evaluate_from=0) == []  # exactly 3x is not above
        assert spike_vs_average([D(10)] * 7 + [D(31)], evaluate_from=0) == [(7, D(10))]

    def test_velocity(self):
        """+50 % week over week alerts; +20 % does not; growth from $0 is 'new spend' (None)."""
        assert velocity(D(150), D(100)) == D("0.5")
        assert velocity(D(120), D(100)) is False
        assert velocity(D(5), D(0)) is None
        assert velocity(D(5), D(0), min_usd=D(10)) is False


def _hourly_records(hours: int, start: datetime, spike_at: int | None = None, spike_calls: int = 20):
    recs = []
    for h in range(hours):
        n = spike_calls if h == spike_at else (1 if h % 2 == 0 else 2)
        recs += [priced(ts=start + timedelta(hours=h, minutes=m)) for m in range(n)]
    return recs


class TestDetectAnomalies:
    def test_hourly_spike_on_the_total(self, write_jsonl):
        """An hour of 20 calls after 10 days of 1-2 calls an hour is a sigma_hour alert."""
        start = datetime(2026, 11, 1, tzinfo=UTC)
        p = write_jsonl(_hourly_records(246, start, spike_at=245))
        alerts = detect_anomalies(p, by=(), min_usd=D(0))
        history = [D("0.0045") * (1 if h % 2 == 0 else 2) for h in range(245)]
        assert [(a.kind, a.scope, a.period_start) for a in alerts] == [
            ("sigma_hour", "total", start + timedelta(hours=245))
        ]
        a = alerts[0]
        assert (a.actual_usd, a.expected_usd) == (D("0.09"), statistics.mean(history).quantize(Q))
        assert a.threshold_usd == (statistics.mean(history) + 3 * statistics.stdev(history)).quantize(Q)
        assert a.score > 3

    def test_min_usd_silences_small_spikes(self, write_jsonl):
        """The same spike is below the default $1 minimum excess."""
        p = write_jsonl(_hourly_records(246, datetime(2026, 11, 1, tzinfo=UTC), spike_at=245))
        assert detect_anomalies(p, by=()) == []

    def test_daily_spike_per_team(self, write_jsonl):
        """A team's day at 10x its 7-day average is reported for that team only."""
        recs = [priced(team="a", ts=datetime(2026, 11, d, 12, tzinfo=UTC)) for d in range(1, 9)]
        recs += [priced(team="b", ts=datetime(2026, 11, d, 12, tzinfo=UTC)) for d in range(1, 9)]
        recs += [priced(team="a", ts=datetime(2026, 11, 8, 13, m, tzinfo=UTC)) for m in range(9)]
        recs.append(
            priced(team="b", ts=datetime(2026, 10, 31, tzinfo=UTC))
        )  # logs cover whole days from Oct 31
        alerts = detect_anomalies(write_jsonl(recs), by="team", min_usd=D(0))
        spikes = [a for a in alerts if a.kind == "spike_7d"]
        assert [
            (a.scope, a.period_start.date().isoformat(), a.actual_usd, a.expected_usd) for a in spikes
        ] == [
            ("team=a", "2026-11-08", D("0.045"), D("0.0045")),
            ("total", "2026-11-08", D("0.0495"), D("0.009")),
        ]
        assert spikes[0].score == D(10)

    def test_week_over_week_velocity(self, write_jsonl):
        """A team whose last 7 days doubled the 7 before gets a velocity alert (+100 %)."""
        recs = [priced(team="a", ts=datetime(2026, 11, d, 12, tzinfo=UTC)) for d in range(1, 16)]
        recs += [priced(team="a", ts=datetime(2026, 11, d, 12, 30, tzinfo=UTC)) for d in range(9, 16)]
        recs[-1] = priced(team="a", ts=datetime(2026, 11, 15, 12, tzinfo=UTC))
        alerts = [
            a for a in detect_anomalies(write_jsonl(recs), by="team", min_usd=D(0)) if a.kind == "velocity"
        ]
        assert [(a.scope, a.actual_usd, a.expected_usd, a.score) for a in alerts] == [
            ("team=a", D("0.063"), D("0.0315"), D(1)),
            ("total", D("0.063"), D("0.0315"), D(1)),
        ]
        assert "+100%" in alerts[0].message

    def test_alerts_table(self):
        """An empty alert list renders with a 'no anomaly' note."""
        assert alerts_table([]).notes == ("no anomaly",)
