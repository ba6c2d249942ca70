"""SQLiteSink: schema, batching, migrations, several processes; seed 004's FinOps queries run unchanged."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

import llmfinops
from llmfinops.exceptions import ConfigurationError, SinkFailedWarning
from llmfinops.records import RECORD_FIELDS
from llmfinops.sinks import read_records, read_sqlite
from llmfinops.sinks._writer import BackgroundWriter
from llmfinops.sinks.sqlite import SCHEMA_VERSION, SQLiteSink, column_types, connect, date_trunc
from llmfinops.testing import capture_records
from llmfinops.testing.openai import OpenAIMock, openai_client

from .conftest import ROOT, rec

# Seed 004 (LLM FinOps eguide), verbatim: "Tracking cost decomposition per workload".
SEED_COST_DECOMPOSITION = """\
SELECT
    feature,
    SUM(input_tokens) AS input_tokens,
    SUM(output_tokens) AS output_tokens,
    SUM(cached_input_tokens) AS cached_input_tokens,
    SUM(input_tokens) * 5.00 / 1e6 AS input_cost,
    SUM(output_tokens) * 25.00 / 1e6 AS output_cost,
    SUM(cached_input_tokens) * 0.50 / 1e6 AS cached_cost,
    100.0 * SUM(output_tokens) * 25 / NULLIF(SUM(input_tokens) * 5 + SUM(output_tokens) * 25, 0)
        AS output_pct_of_spend
FROM llm_call_log
WHERE date_trunc('month', timestamp) = date_trunc('month', current_date)
GROUP BY feature
ORDER BY input_cost + output_cost + cached_cost DESC;
-- Reveals features where output dominates (look at output_pct_of_spend)
"""

# Seed 004, verbatim: "Cost allocation example pulling from tagged usage data".
SEED_ALLOCATION = """\
WITH monthly_usage AS (
  SELECT team, feature,
         SUM(input_tokens + output_tokens) AS total_tokens,
         SUM(estimated_cost_usd) AS direct_cost
  FROM llm_call_log
  WHERE date_trunc('month', timestamp) = date_trunc('month', current_date)
  GROUP BY team, feature
),
total_by_team AS (
  SELECT team, SUM(direct_cost) AS team_direct
  FROM monthly_usage GROUP BY team
),
shared_infra_cost AS (
  SELECT 50000 AS amount   -- monthly fixed infra cost to split
),
team_share AS (
  SELECT t.team, t.team_direct,
         t.team_direct / SUM(t.team_direct) OVER () AS share_of_total,
         t.team_direct + (t.team_direct / SUM(t.team_direct) OVER ()) * s.amount
           AS allocated_total
  FROM total_by_team t CROSS JOIN shared_infra_cost s
)
SELECT team, team_direct, allocated_total FROM team_share ORDER BY allocated_total DESC;
"""

# Seed 004, verbatim: "Spend report query (BigQuery example)".
SEED_SPEND_REPORT = """\
SELECT
    team,
    feature,
    SUM(input_tokens) * 5.00 / 1000000 AS input_cost,
    SUM(output_tokens) * 25.00 / 1000000 AS output_cost,
    SUM(cached_input_tokens) * 0.50 / 1000000 AS cached_cost,
    SUM(input_tokens + output_tokens + cached_input_tokens) AS total_tokens,
    COUNT(*) AS call_count
FROM llm_call_log
WHERE date BETWEEN '2026-05-01' AND '2026-05-31'
GROUP BY team, feature
ORDER BY input_cost + output_cost + cached_cost DESC
"""


def _month_start(db: sqlite3.Connection) -> datetime:
    (start,) = db.execute("SELECT date_trunc('month', current_date)").fetchone()
    return datetime.fromisoformat(start).replace(tzinfo=UTC)


class TestSeedQueries:
    def test_cost_decomposition_per_feature(self, tmp_path: Path) -> None:
        """Seed 004's per-feature decomposition runs unchanged and returns exact sums for this month only."""
        sink = SQLiteSink(tmp_path / "calls.db")
        db = sink.connect()
        m = _month_start(db)
        sink.emit_batch(
            [
                rec(1, timestamp=m + timedelta(hours=1), team="search", feature="autocomplete",
                    input_tokens=4000, output_tokens=800, cached_input_tokens=500, cost_usd="0.5"),
                rec(2, timestamp=m + timedelta(hours=2), team="search", feature="autocomplete",
                    input_tokens=2000, output_tokens=400, cost_usd="0.25"),
                rec(3, timestamp=m + timedelta(hours=3), team="search", feature="summarize",
                    input_tokens=2000, output_tokens=1200, cost_usd="1.0"),
                rec(4, timestamp=m + timedelta(hours=4), team="support", feature="chat",
                    input_tokens=20000, output_tokens=1000, cached_input_tokens=16000, cost_usd="2.25"),
                rec(5, timestamp=m - timedelta(hours=1), team="support", feature="chat",
                    input_tokens=99999, output_tokens=99999, cost_usd="100"),
            ]
        )  # fmt: skip
        rows = db.execute(SEED_COST_DECOMPOSITION).fetchall()
        assert rows == [
            ("chat", 20000, 1000, 16000, 0.1, 0.025, 0.008, 20.0),
            ("autocomplete", 6000, 1200, 500, 0.03, 0.03, 0.00025, 50.0),
            ("summarize", 2000, 1200, 0, 0.01, 0.03, 0.0, 75.0),
        ]
        sink.close()

    def test_allocation_of_shared_infra_by_team(self, tmp_path: Path) -> None:
        """Seed 004's chargeback CTE (estimated_cost_usd, window functions) runs unchanged."""
        sink = SQLiteSink(tmp_path / "calls.db")
        db = sink.connect()
        m = _month_start(db)
        sink.emit_batch(
            [
                rec(1, timestamp=m, team="search", feature="autocomplete", cost_usd="0.5"),
                rec(
                    2,
                    timestamp=m + timedelta(minutes=1),
                    team="search",
                    feature="autocomplete",
                    cost_usd="0.25",
                ),
                rec(
                    3, timestamp=m + timedelta(minutes=2), team="search", feature="summarize", cost_usd="1.0"
                ),
                rec(4, timestamp=m + timedelta(minutes=3), team="support", feature="chat", cost_usd="2.25"),
                rec(5, timestamp=m - timedelta(days=3), team="support", feature="chat", cost_usd="100"),
            ]
        )
        rows = db.execute(SEED_ALLOCATION).fetchall()
        assert rows == [("support", 2.25, 28127.25), ("search", 1.75, 21876.75)]
        sink.close()

    def test_spend_report_for_a_date_range(self, tmp_path: Path) -> None:
        """Seed 004's BigQuery spend report runs unchanged on the generated `date` column (UTC days)."""
        sink = SQLiteSink(tmp_path / "calls.db")
        sink.emit_batch(
            [
                rec(1, timestamp=datetime(2026, 4, 30, 23, 59, 59, tzinfo=UTC), team="search",
                    feature="autocomplete", input_tokens=7777),
                rec(2, timestamp=datetime(2026, 5, 1, tzinfo=UTC), team="search", feature="autocomplete",
                    input_tokens=1000, output_tokens=100, cached_input_tokens=200),
                rec(3, timestamp=datetime(2026, 5, 31, 23, 59, 59, 999999, tzinfo=UTC), team="search",
                    feature="autocomplete", input_tokens=3000, output_tokens=300, cached_input_tokens=0),
                rec(4, timestamp=datetime(2026, 5, 15, 12, tzinfo=UTC), team="ads", feature="ranking",
                    input_tokens=400, output_tokens=40, cached_input_tokens=0),
                # 23:30 at UTC-5 on May 31 is June 1 in UTC: out of range.
                rec(5, timestamp=datetime(2026, 5, 31, 23, 30, tzinfo=UTC) + timedelta(hours=5), team="ads",
                    feature="ranking", input_tokens=5555),
            ]
        )  # fmt: skip
        rows = sink.connect().execute(SEED_SPEND_REPORT).fetchall()
        assert rows == [
            ("search", "autocomplete", 0.02, 0.01, 0.0001, 4600, 2),
            ("ads", "ranking", 0.002, 0.001, 0.0, 440, 1),
        ]
        sink.close()

    def test_real_wrapped_calls_feed_the_seed_query(self, tmp_path: Path) -> None:
        """Records of a real wrapped OpenAI client land in the table and in seed 004's report."""
        path = tmp_path / "calls.db"
        llmfinops.configure(sinks=[SQLiteSink(path)])
        client = llmfinops.wrap(openai_client(OpenAIMock(prompt_tokens=1200, completion_tokens=300)))
        with capture_records() as records, llmfinops.tags(team="search", feature="ask"):
            for _ in range(2):
                client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        llmfinops.flush()
        db = connect(path)
        assert db.execute(SEED_COST_DECOMPOSITION).fetchall() == [
            ("ask", 2400, 600, 0, 0.012, 0.015, 0.0, 100.0 * 600 * 25 / (2400 * 5 + 600 * 25))
        ]
        cost = records[0].cost_usd
        assert cost is not None
        (total,) = db.execute("SELECT decimal_sum(estimated_cost_usd) FROM llm_call_log").fetchone()
        assert (Decimal(total), total) == (cost * 2, "0.012")
        assert [r.id for r in read_sqlite(path)] == [r.id for r in records]


class TestSchema:
    def test_one_column_per_record_field_plus_exact_and_generated(self, tmp_path: Path) -> None:
        """The table has every record field, exact-text money columns and the generated columns."""
        sink = SQLiteSink(tmp_path / "calls.db")
        info = sink.connect().execute("PRAGMA table_xinfo(llm_call_log)").fetchall()
        names = [row[1] for row in info]
        money = [f for f in RECORD_FIELDS if column_types()[f] == "REAL" and f.endswith("usd")]
        assert names == [*RECORD_FIELDS, *(f + "_exact" for f in money), "estimated_cost_usd", "date"]
        types = {row[1]: row[2] for row in info}
        assert (types["cost_usd"], types["tags"], types["input_tokens"], types["stream"]) == (
            "REAL", "TEXT", "INTEGER", "INTEGER",
        )  # fmt: skip
        assert {"cost_usd", "saved_usd"} <= set(money)
        sink.close()

    def test_wal_and_schema_version(self, tmp_path: Path) -> None:
        """The file is in WAL mode and carries the schema version."""
        sink = SQLiteSink(tmp_path / "calls.db")
        db = sink.connect()
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        indexes = {row[1]: row[2] for row in db.execute("PRAGMA index_list(llm_call_log)")}
        assert indexes == {"llm_call_log_id": 1, "llm_call_log_timestamp": 0}
        sink.close()

    def test_stored_values(self, tmp_path: Path) -> None:
        """Timestamps are sortable UTC text, tags JSON, booleans 0/1, money REAL plus exact text."""
        sink = SQLiteSink(tmp_path / "calls.db")
        tz = datetime(2026, 11, 2, 11, 30, tzinfo=UTC).astimezone(
            __import__("zoneinfo").ZoneInfo("Europe/Paris")
        )
        sink.emit(
            rec(1, timestamp=tz, tags={"project": "é"}, stream=True, cost_usd="0.001234567890123456789")
        )
        query = (
            "SELECT timestamp, date, tags, stream, partial, cost_usd, cost_usd_exact, estimated_cost_usd, "
            "infra_cost_usd_exact FROM llm_call_log"
        )
        row = sink.connect().execute(query).fetchone()
        assert row == (
            "2026-11-02T11:30:00.000000+00:00", "2026-11-02", '{"project":"é"}', 1, 0,
            0.0012345678901234567, "0.001234567890123456789", 0.0012345678901234567, None,
        )  # fmt: skip
        sink.close()

    def test_round_trip_is_exact(self, tmp_path: Path) -> None:
        """read_sqlite gives back records equal to those written, money to the last digit."""
        path = tmp_path / "calls.db"
        sink = SQLiteSink(path)
        originals = [
            rec(1, cost_usd="0.000000123456789012345678", tags={"a": "b"}, time_to_first_token_ms=12.5),
            rec(
                2,
                cost_usd=None,
                input_cost_usd=None,
                status="error",
                error_type="RateLimitError",
                partial=True,
            ),
        ]
        sink.emit_batch(originals)
        sink.close()
        assert list(read_sqlite(path)) == originals
        assert list(read_records(path)) == originals

    def test_invalid_table_name(self, tmp_path: Path) -> None:
        """A table name that is not an identifier is a configuration error naming the fix."""
        with pytest.raises(ConfigurationError, match=r"table='calls; DROP' is not a plain SQL identifier"):
            SQLiteSink(tmp_path / "c.db", table="calls; DROP")

    def test_unopenable_file(self, tmp_path: Path) -> None:
        """A file that is not a database is reported at construction, not on the call path."""
        bad = tmp_path / "notes.txt"
        bad.write_text("x" * 4096)
        with pytest.raises(ConfigurationError, match=r"notes.txt'.*cannot open the database"):
            SQLiteSink(bad)

    def test_custom_table(self, tmp_path: Path) -> None:
        """Another table name gets the same layout."""
        sink = SQLiteSink(tmp_path / "c.db", table="llm_calls_staging")
        sink.emit(rec(1))
        assert [r.id for r in read_sqlite(tmp_path / "c.db", table="llm_calls_staging")] == ["r0000001"]
        sink.close()


OLD_SCHEMA = """
CREATE TABLE llm_call_log (
  id TEXT NOT NULL, timestamp TEXT NOT NULL, provider TEXT, operation TEXT, endpoint TEXT, model TEXT,
  response_model TEXT, price_model TEXT, input_tokens INTEGER, cached_input_tokens INTEGER,
  cache_write_tokens INTEGER, output_tokens INTEGER, reasoning_tokens INTEGER, total_tokens INTEGER,
  cost_usd REAL, input_cost_usd REAL, cached_input_cost_usd REAL, cache_write_cost_usd REAL,
  output_cost_usd REAL, latency_ms REAL, time_to_first_token_ms REAL, retry_count INTEGER, status TEXT,
  error_type TEXT, stream INTEGER, partial INTEGER, service_tier TEXT, request_max_tokens INTEGER,
  service TEXT, user_id TEXT, team TEXT, feature TEXT, environment TEXT, tags TEXT, request_id TEXT,
  price_version TEXT, pricing_note TEXT, retired_column TEXT
);
INSERT INTO llm_call_log VALUES (
  'old1', '2026-05-02T10:00:00.000000+00:00', 'openai', 'chat', 'chat.completions', 'gpt-4o', NULL, 'gpt-4o',
  1000, 0, 0, 100, 0, 1100, 0.0035, 0.0025, 0, 0, 0.001, 300.0, NULL, 0, 'ok', NULL, 0, 0, NULL, NULL,
  NULL, NULL, 'search', 'ask', 'prod', '{}', NULL, '2026-04-01', NULL, 'ignored'
);
"""


class TestMigration:
    def test_older_schema_gets_new_columns_and_keeps_rows(self, tmp_path: Path) -> None:
        """Opening a version-0 table adds missing columns, keeps old rows readable and bumps the version."""
        path = tmp_path / "old.db"
        old = sqlite3.connect(path)
        old.executescript(OLD_SCHEMA)
        old.close()

        sink = SQLiteSink(path)
        db = sink.connect()
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        names = [row[1] for row in db.execute("PRAGMA table_xinfo(llm_call_log)")]
        assert set(names) == {*column_types(), "estimated_cost_usd", "date", "retired_column"}
        sink.emit(rec(1, timestamp=datetime(2026, 5, 3, tzinfo=UTC), team="search", feature="ask",
                      input_tokens=2000, output_tokens=200, http_requests=2))  # fmt: skip

        old_rec, new_rec = read_sqlite(path)
        assert (old_rec.id, old_rec.cost_usd, old_rec.http_requests, old_rec.cache_hit) == (
            "old1", Decimal("0.0035"), 1, False,
        )  # fmt: skip
        assert (old_rec.cache_storage_cost_usd, old_rec.infra_cost_usd, old_rec.saved_usd) == (
            None,
            None,
            None,
        )
        assert (new_rec.id, new_rec.http_requests) == ("r0000001", 2)
        assert db.execute(SEED_SPEND_REPORT).fetchall() == [("search", "ask", 0.015, 0.0075, 0.0, 3300, 2)]
        assert db.execute("SELECT SUM(estimated_cost_usd) FROM llm_call_log").fetchone() == (0.0035 + 0.0045,)
        sink.close()

    def test_reopening_is_a_no_op(self, tmp_path: Path) -> None:
        """Opening a current file again changes nothing and keeps the rows."""
        path = tmp_path / "c.db"
        SQLiteSink(path).emit(rec(1))
        SQLiteSink(path).emit(rec(2))
        assert [r.id for r in read_sqlite(path)] == ["r0000001", "r0000002"]

    def test_duplicate_ids_in_old_table_disable_dedup_not_writes(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An old table with duplicate ids cannot get the unique index; rows are still written."""
        path = tmp_path / "dups.db"
        old = sqlite3.connect(path)
        old.executescript(OLD_SCHEMA)
        old.execute("INSERT INTO llm_call_log SELECT * FROM llm_call_log")
        old.commit()
        old.close()
        sink = SQLiteSink(path)
        sink.emit(rec(1))
        assert "duplicate ids" in caplog.text
        assert [r.id for r in read_sqlite(path)] == ["old1", "old1", "r0000001"]
        sink.close()


class TestWriting:
    def test_rewriting_a_batch_does_not_duplicate(self, tmp_path: Path) -> None:
        """Rows are keyed by id: a retried batch is written once."""
        sink = SQLiteSink(tmp_path / "c.db")
        batch = [rec(1), rec(2)]
        sink.emit_batch(batch)
        sink.emit_batch(batch)
        assert sink.connect().execute("SELECT COUNT(*) FROM llm_call_log").fetchone() == (2,)
        sink.close()

    def test_failed_batch_is_rolled_back_and_writer_isolates_bad_record(self, tmp_path: Path) -> None:
        """One unbindable record rolls back its batch; the writer then writes the others one by one."""
        path = tmp_path / "c.db"
        sink = SQLiteSink(path)
        bad = rec(2, input_tokens=object())
        with pytest.raises(sqlite3.ProgrammingError):
            sink.emit_batch([rec(1), bad])
        assert sink.connect().execute("SELECT COUNT(*) FROM llm_call_log").fetchone() == (0,)

        w = BackgroundWriter([sink], flush_interval=3600)
        for r in (rec(1), bad, rec(3)):
            w.submit(r)
        with pytest.warns(SinkFailedWarning, match="permanent error"):
            w.flush()
        assert [r.id for r in read_sqlite(path)] == ["r0000001", "r0000003"]
        assert (w.written, w.dropped_sink_errors) == (2, 1)
        w.close()

    def test_waits_for_another_writers_lock(self, tmp_path: Path) -> None:
        """A batch waits for another connection's write transaction instead of failing."""
        path = tmp_path / "c.db"
        sink = SQLiteSink(path, busy_timeout=5)
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        timer = threading.Timer(0.2, lambda: other.execute("COMMIT"))
        timer.start()
        start = time.monotonic()
        sink.emit(rec(1))
        waited = time.monotonic() - start
        timer.join()
        other.close()
        assert waited >= 0.15
        assert [r.id for r in read_sqlite(path)] == ["r0000001"]
        sink.close()

    def test_reopens_after_close(self, tmp_path: Path) -> None:
        """A record arriving after close() reopens the connection."""
        sink = SQLiteSink(tmp_path / "c.db")
        sink.close()
        sink.emit(rec(1))
        sink.close()
        assert len(list(read_sqlite(tmp_path / "c.db"))) == 1

    @pytest.mark.slow
    def test_several_processes_one_file(self, tmp_path: Path) -> None:
        """Four processes writing one file at once lose nothing and corrupt nothing."""
        start = time.time() + 0.5
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(MULTI_WRITER), str(n), repr(start)],
                cwd=tmp_path,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(4)
        ]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert (p.returncode, err) == (0, "")
        db = connect(tmp_path / "calls.db")
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute(
            "SELECT team, COUNT(*), COUNT(DISTINCT id) FROM llm_call_log GROUP BY team"
        ).fetchall()
        assert rows == [("t0", 1500, 1500), ("t1", 1500, 1500), ("t2", 1500, 1500), ("t3", 1500, 1500)]


MULTI_WRITER = """
import sys, time
from llmfinops.sinks.sqlite import SQLiteSink
from llmfinops.sinks._writer import BackgroundWriter
from llmfinops.testing import make_record

n, start = sys.argv[1], float(sys.argv[2])
w = BackgroundWriter([SQLiteSink("calls.db", busy_timeout=30)], flush_interval=0.001, batch_size=25)
time.sleep(max(0.0, start - time.time()))
for i in range(1500):
    w.submit(make_record(id=f"p{n}-{i:05d}", team=f"t{n}"))
    if i % 100 == 0:
        time.sleep(0.001)
w.close()
assert (w.written, w.dropped_sink_errors) == (1500, 0), w.stats()
"""


class TestQueryHelpers:
    @pytest.mark.parametrize(
        ("unit", "expected"),
        [
            ("microseconds", "2026-11-22 16:30:45.123456"),
            ("milliseconds", "2026-11-22 16:30:45.123000"),
            ("second", "2026-11-22 16:30:45"),
            ("minute", "2026-11-22 16:30:00"),
            ("hour", "2026-11-22 16:00:00"),
            ("day", "2026-11-22 00:00:00"),
            ("week", "2026-11-16 00:00:00"),
            ("month", "2026-11-01 00:00:00"),
            ("MONTHS", "2026-11-01 00:00:00"),
            ("quarter", "2026-10-01 00:00:00"),
            ("year", "2026-01-01 00:00:00"),
            ("decade", "2020-01-01 00:00:00"),
            ("century", "2001-01-01 00:00:00"),
            ("millennium", "2001-01-01 00:00:00"),
        ],
    )
    def test_date_trunc_units(self, unit: str, expected: str) -> None:
        """date_trunc truncates in UTC like PostgreSQL."""
        assert date_trunc(unit, "2026-11-22T18:30:45.123456+02:00") == expected

    def test_date_trunc_inputs(self) -> None:
        """Dates, naive and Z timestamps, Unix seconds and NULL are accepted."""
        assert [
            date_trunc("month", "2026-02-14"),
            date_trunc("day", "2026-02-14 23:59:59"),
            date_trunc("day", "2026-02-14T23:59:59Z"),
            date_trunc("hour", 0),
            date_trunc("day", None),
        ] == [
            "2026-02-01 00:00:00",
            "2026-02-14 00:00:00",
            "2026-02-14 00:00:00",
            "1970-01-01 00:00:00",
            None,
        ]

    def test_date_trunc_unknown_unit(self, tmp_path: Path) -> None:
        """An unknown unit is an SQL error naming the valid units."""
        with pytest.raises(ValueError, match="unknown unit 'fortnight'"):
            date_trunc("fortnight", "2026-01-01")
        db = connect(tmp_path / "q.db")
        with pytest.raises(sqlite3.OperationalError):
            db.execute("SELECT date_trunc('fortnight', '2026-01-01')").fetchone()

    def test_decimal_sum_is_exact(self, tmp_path: Path) -> None:
        """decimal_sum adds REAL costs as decimals: ten 0.1s make exactly 1.0."""
        sink = SQLiteSink(tmp_path / "c.db")
        sink.emit_batch([rec(i, cost_usd="0.1") for i in range(10)])
        db = sink.connect()
        assert db.execute("SELECT decimal_sum(cost_usd), SUM(cost_usd) FROM llm_call_log").fetchone() == (
            "1", 0.9999999999999999,
        )  # fmt: skip
        assert db.execute("SELECT decimal_sum(cost_usd) FROM llm_call_log WHERE 0").fetchone() == (None,)
        sink.close()
