"""Reading JSONL/SQLite logs into DuckDB, with and without the Parquet cache."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from llmfinops.exceptions import ConfigurationError
from llmfinops.reports import clear_cache, open_dataset, summarize
from llmfinops.reports._load import expand_paths, month_bounds
from llmfinops.testing import make_record

from .conftest import T0, priced


def _costs(path: Path | list[Path], **kw: object) -> list[tuple[object, ...]]:
    with open_dataset(path, **kw) as ds:  # type: ignore[arg-type]
        return ds.sql("SELECT id, cost_usd, input_tokens FROM calls ORDER BY id")


class TestExpandPaths:
    def test_glob_and_directory(self, write_jsonl, tmp_path):
        """A glob and a directory both find the files, each once, in a stable order."""
        a = write_jsonl([make_record()], "a.jsonl")
        b = write_jsonl([make_record()], "b.jsonl")
        (tmp_path / "notes.txt").write_text("x")
        assert [f.path for f in expand_paths(str(tmp_path / "*.jsonl"))] == [a.resolve(), b.resolve()]
        assert [f.path for f in expand_paths([tmp_path, a])] == [a.resolve(), b.resolve()]

    def test_no_match_names_the_pattern(self, tmp_path):
        """A pattern that matches nothing is a ConfigurationError naming it."""
        with pytest.raises(ConfigurationError, match=r"input '.*nothing-\*\.jsonl' matches no file"):
            expand_paths(str(tmp_path / "nothing-*.jsonl"))

    def test_sqlite_is_sniffed(self, write_sqlite):
        """SQLite files are recognised by their header, whatever their extension."""
        p = write_sqlite([make_record()], "calls.log")
        assert expand_paths(p)[0].kind == "sqlite"

    def test_month_bounds(self):
        """--month covers the calendar month in UTC; bad input is explained."""
        assert month_bounds("2026-12") == (
            datetime(2026, 12, 1, tzinfo=UTC),
            datetime(2027, 1, 1, tzinfo=UTC),
        )
        with pytest.raises(ConfigurationError, match="month='11/2026' is not YYYY-MM"):
            month_bounds("11/2026")


class TestJsonl:
    def test_exact_decimal_costs(self, write_jsonl):
        """Costs come back as the exact decimals that were logged."""
        p = write_jsonl(
            [make_record(id="a", cost_usd="0.0000825"), make_record(id="b", cost_usd="12.3456789")]
        )
        assert _costs(p, cache=False) == [
            ("a", Decimal("0.0000825"), 1000),
            ("b", Decimal("12.3456789"), 1000),
        ]

    def test_torn_last_line_is_skipped(self, write_jsonl):
        """A half-written last line (killed writer) is ignored; the complete lines are read."""
        p = write_jsonl([make_record(id="a"), make_record(id="b")])
        with p.open("a") as fh:
            fh.write('{"id":"torn","timestamp":"2026-11-01T12:00:00+00:00","provider":"op')
        assert [r[0] for r in _costs(p, cache=False)] == ["a", "b"]

    @pytest.mark.parametrize("cache", [False, True])
    def test_torn_line_glued_to_next_record(self, write_jsonl, tmp_path, cache):
        """A torn record followed on the same line by the next writer's record: that record is recovered."""
        p = write_jsonl([make_record(id="a")])
        with p.open("a") as fh:
            fh.write(make_record(id="torn").to_json()[:50])  # killed mid-write, no newline
        write_jsonl([make_record(id="b"), make_record(id="c")])  # the next process appends
        ids = [r[0] for r in _costs(p, cache=cache, cache_dir=tmp_path / "c")]
        assert ids == ["a", "b", "c"]

    def test_unknown_fields_and_missing_fields(self, tmp_path):
        """Extra keys are ignored; missing keys read as NULL or 0; null costs stay unknown."""
        p = tmp_path / "old.jsonl"
        p.write_text(
            json.dumps(
                {
                    "id": "x",
                    "timestamp": "2026-11-01T00:00:00+00:00",
                    "provider": "openai",
                    "model": "gpt-4o",
                    "cost_usd": None,
                    "future": {"a": 1},
                }
            )
            + "\n"
        )
        with open_dataset(p, cache=False) as ds:
            row = ds.sql("SELECT cost_usd, input_tokens, status, stream, team FROM calls")
        assert row == [(None, 0, "ok", False, None)]

    def test_empty_file(self, tmp_path):
        """An empty log is a dataset with no calls, not an error."""
        p = tmp_path / "empty.jsonl"
        p.write_text("")
        rep = summarize(p, by="team")
        assert (rep.total.calls, rep.rows, rep.first_call) == (0, (), None)

    def test_many_files(self, write_jsonl):
        """Several files are read as one dataset."""
        a = write_jsonl([make_record(id="a")], "a.jsonl")
        b = write_jsonl([make_record(id="b")], "b.jsonl")
        assert [r[0] for r in _costs([a, b], cache=False)] == ["a", "b"]


class TestSqlite:
    def test_text_money_and_extra_columns(self, write_sqlite):
        """Rows are read by column name; extra columns are ignored; text money is exact."""
        p = write_sqlite([priced(id="s1", team="search", tags={"region": "eu"})], extra_column=True)
        with open_dataset(p, cache=False) as ds:
            row = ds.sql("SELECT id, cost_usd, team, json_extract_string(tags, '$.region') FROM calls")
        assert row == [("s1", Decimal("0.0045"), "search", "eu")]

    def test_real_money(self, write_sqlite):
        """REAL money columns are read back to the same decimal."""
        p = write_sqlite([make_record(id="r", cost_usd="0.0012345")], money_as_text=False)
        assert _costs(p, cache=False) == [("r", Decimal("0.0012345"), 1000)]

    def test_sqlite_sink_exact_money(self, tmp_path):
        """Databases written by SQLiteSink are read with the exact decimal columns, not the REAL ones."""
        from llmfinops.sinks.sqlite import SQLiteSink

        p = tmp_path / "sink.db"
        sink = SQLiteSink(p)
        for i, cost in enumerate(("0.1", "0.2", "0.00000001234567890123")):
            sink.emit(make_record(id=f"s{i}", cost_usd=cost, team="search"))
        sink.close()
        with open_dataset(p, cache=False) as ds:
            total = ds.sql("SELECT sum(cost_usd), count(*) FROM calls")
        assert total == [(Decimal("0.30000001234567890123"), 3)]

    def test_missing_table(self, tmp_path):
        """A SQLite file without llm_call_log is explained."""
        import sqlite3

        p = tmp_path / "other.db"
        sqlite3.connect(p).execute("CREATE TABLE t (x)").connection.close()
        with pytest.raises(ConfigurationError, match="without a table 'llm_call_log'"):
            open_dataset(p, cache=False)

    def test_sqlite_and_jsonl_together(self, write_sqlite, write_jsonl):
        """Both kinds can be mixed in one report."""
        a = write_jsonl([make_record(id="j", team="a")])
        b = write_sqlite([make_record(id="s", team="b")])
        rep = summarize([a, b], by="team")
        assert [(r.key, r.calls) for r in rep.rows] == [(("a",), 1), (("b",), 1)]


class TestParquetCache:
    def test_build_then_reuse(self, write_jsonl, tmp_path):
        """The first run builds segments; an unchanged file reuses them as they are."""
        cache = tmp_path / "c"
        p = write_jsonl([make_record(id=f"r{i}") for i in range(5)])
        assert len(_costs(p, cache=True, cache_dir=cache)) == 5
        segs = sorted(cache.rglob("seg-*.parquet"))
        mtimes = [s.stat().st_mtime_ns for s in segs]
        assert len(_costs(p, cache=True, cache_dir=cache)) == 5
        assert (len(segs), [s.stat().st_mtime_ns for s in sorted(cache.rglob("seg-*.parquet"))]) == (
            1,
            mtimes,
        )

    def test_append_converts_only_new_lines(self, write_jsonl, tmp_path):
        """Appended records land in a new segment; old ones are not read again."""
        cache = tmp_path / "c"
        p = write_jsonl([make_record(id="a")])
        _costs(p, cache=True, cache_dir=cache)
        write_jsonl([make_record(id="b"), make_record(id="c")])  # same file, appended
        assert [r[0] for r in _costs(p, cache=True, cache_dir=cache)] == ["a", "b", "c"]
        manifest = json.loads(next(cache.rglob("manifest.json")).read_text())
        assert [s["rows"] for s in manifest["segments"]] == [1, 2]

    def test_torn_tail_counted_once_when_completed(self, write_jsonl, tmp_path):
        """A torn last line is left out of the cache and read once it is complete."""
        cache = tmp_path / "c"
        p = write_jsonl([make_record(id="a")])
        line = make_record(id="b").to_json() + "\n"
        with p.open("a") as fh:
            fh.write(line[:40])
        assert [r[0] for r in _costs(p, cache=True, cache_dir=cache)] == ["a"]
        with p.open("a") as fh:
            fh.write(line[40:])
        assert [r[0] for r in _costs(p, cache=True, cache_dir=cache)] == ["a", "b"]

    def test_rewritten_file_rebuilds(self, write_jsonl, tmp_path):
        """A file replaced by different content (rotation, truncation) is converted again."""
        cache = tmp_path / "c"
        p = write_jsonl([make_record(id="a"), make_record(id="b")])
        _costs(p, cache=True, cache_dir=cache)
        os.remove(p)
        write_jsonl([make_record(id="z")])
        assert [r[0] for r in _costs(p, cache=True, cache_dir=cache)] == ["z"]

    def test_sqlite_incremental(self, write_sqlite, tmp_path):
        """New SQLite rows (by rowid) are added to the cache; the old ones are kept."""
        cache = tmp_path / "c"
        p = write_sqlite([make_record(id="a")])
        _costs(p, cache=True, cache_dir=cache)
        write_sqlite([make_record(id="b")])
        assert [r[0] for r in _costs(p, cache=True, cache_dir=cache)] == ["a", "b"]
        manifest = json.loads(next(cache.rglob("manifest.json")).read_text())
        assert (manifest["rows"], len(manifest["segments"])) == (2, 2)

    def test_chunks_split_at_line_boundaries(self, write_jsonl, tmp_path, monkeypatch):
        """Large inputs are converted in several chunks without losing or splitting a line."""
        from llmfinops.reports import _cache

        monkeypatch.setattr(_cache, "CHUNK_BYTES", 3000)
        cache = tmp_path / "c"
        p = write_jsonl([make_record(id=f"r{i:03d}") for i in range(40)])
        ids = [r[0] for r in _costs(p, cache=True, cache_dir=cache)]
        assert (ids, len(list(cache.rglob("seg-*.parquet"))) > 3) == ([f"r{i:03d}" for i in range(40)], True)

    def test_progress_bar(self, write_jsonl, tmp_path, monkeypatch):
        """A cache build reports its bytes to the progress bar (rich, on stderr)."""
        from llmfinops.reports._progress import RichProgress, make_progress

        seen: list[tuple[str, int]] = []
        monkeypatch.setattr(RichProgress, "start", lambda self, d, total: seen.append((d, total)))
        p = write_jsonl([make_record(id=f"r{i}") for i in range(3)])
        with open_dataset(p, cache=True, cache_dir=tmp_path / "c", progress=make_progress(True)) as ds:
            assert ds.count() == 3
        assert seen == [("caching calls.jsonl", p.stat().st_size)]

    def test_auto_threshold_and_clear(self, write_jsonl, tmp_path):
        """cache=None caches only inputs above the size threshold; clear_cache removes the directory."""
        cache = tmp_path / "c"
        p = write_jsonl([make_record()])
        with open_dataset(p, cache_dir=cache, cache_min_bytes=10**9) as ds:
            assert ds.count() == 1
        assert not cache.exists()
        with open_dataset(p, cache_dir=cache, cache_min_bytes=1) as ds:
            assert ds.count() == 1
        assert (cache.exists(), clear_cache(cache).exists()) == (True, False)


class TestFilters:
    def test_since_until_where(self, write_jsonl):
        """since is inclusive, until exclusive; where keeps matching values; (none) matches missing."""
        p = write_jsonl(
            [
                make_record(id="a", timestamp=T0, team="search"),
                make_record(id="b", timestamp=T0 + timedelta(days=1), team="ads"),
                make_record(id="c", timestamp=T0 + timedelta(days=2), team=None),
            ]
        )
        with open_dataset(p, since=T0, until=T0 + timedelta(days=2)) as ds:
            assert [r[0] for r in ds.sql("SELECT id FROM calls ORDER BY id")] == ["a", "b"]
        with open_dataset(p, where={"team": ["search", "(none)"]}) as ds:
            assert [r[0] for r in ds.sql("SELECT id FROM calls ORDER BY id")] == ["a", "c"]
        with open_dataset(p, since="2026-11-03T12:00:00Z") as ds:
            assert [r[0] for r in ds.sql("SELECT id FROM calls ORDER BY id")] == ["b", "c"]

    def test_bad_filters_are_explained(self, write_jsonl):
        """Unknown dimensions, bad dates and inverted ranges are ConfigurationErrors naming the value."""
        p = write_jsonl([make_record()])
        with pytest.raises(ConfigurationError, match="unknown dimension 'squad'"):
            open_dataset(p, where={"squad": "x"})
        with pytest.raises(ConfigurationError, match="since='yesterday' is not an ISO date"):
            open_dataset(p, since="yesterday")
        with pytest.raises(ConfigurationError, match="is not after since"):
            open_dataset(p, since="2026-11-02", until="2026-11-01")
