"""Tolerant readers: torn tails, glued lines, corrupt lines, old and new fields."""

from __future__ import annotations

import json
import warnings
from decimal import Decimal
from pathlib import Path

import pytest

from llmfinops.exceptions import ConfigurationError, LLMFinOpsWarning
from llmfinops.sinks import JSONLSink, read_jsonl, read_records, read_sqlite
from llmfinops.sinks.sqlite import SQLiteSink

from .conftest import rec


def _write(path: Path, *records: object) -> None:
    sink = JSONLSink(path)
    sink.emit_batch(list(records))  # type: ignore[arg-type]
    sink.close()


class TestJSONL:
    def test_round_trip_is_exact(self, tmp_path: Path) -> None:
        """Records read back equal those written, with exact Decimal money and float latencies."""
        path = tmp_path / "c.jsonl"
        originals = [
            rec(1, cost_usd="0.000000123456789012345678", latency_ms=412.25, tags={"k": "v"}),
            rec(2, cost_usd=None, status="error", error_type="APIError", time_to_first_token_ms=3.5),
        ]
        _write(path, *originals)
        back = list(read_jsonl(path))
        assert back == originals
        assert (type(back[0].latency_ms), back[0].cost_usd) == (float, Decimal("0.000000123456789012345678"))

    def test_torn_last_line_is_skipped_silently(self, tmp_path: Path) -> None:
        """A killed writer's incomplete last line is skipped without a warning."""
        path = tmp_path / "c.jsonl"
        _write(path, rec(1), rec(2))
        with path.open("ab") as fh:
            fh.write(rec(3).to_json().encode()[:57])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert [r.id for r in read_jsonl(path)] == ["r0000001", "r0000002"]

    def test_complete_last_line_without_newline_is_kept(self, tmp_path: Path) -> None:
        """A last line that parses is a record even without its newline."""
        path = tmp_path / "c.jsonl"
        path.write_text(rec(1).to_json() + "\n" + rec(2).to_json())
        assert [r.id for r in read_jsonl(path)] == ["r0000001", "r0000002"]

    def test_torn_line_glued_to_next_record_is_recovered(self, tmp_path: Path) -> None:
        """When the next process appended after a torn line, its complete record is still read."""
        path = tmp_path / "c.jsonl"
        path.write_bytes(
            rec(1).to_json().encode()
            + b"\n"
            + rec(2).to_json().encode()[:80]
            + rec(3).to_json().encode()
            + b"\n"
        )
        assert [r.id for r in read_jsonl(path)] == ["r0000001", "r0000003"]

    def test_corrupt_line_warns_once_with_count(self, tmp_path: Path) -> None:
        """Unreadable complete lines are skipped with one warning naming the count and first line."""
        path = tmp_path / "c.jsonl"
        path.write_text("\n".join([rec(1).to_json(), "not json", "[1, 2]", "", rec(2).to_json()]) + "\n")
        with pytest.warns(
            LLMFinOpsWarning, match=r"skipped 2 unreadable line\(s\) in .*c.jsonl \(first at line 2\)"
        ):
            ids = [r.id for r in read_jsonl(path)]
        assert ids == ["r0000001", "r0000002"]

    def test_on_error_skip_and_raise(self, tmp_path: Path) -> None:
        """on_error='skip' is silent; on_error='raise' names the line."""
        path = tmp_path / "c.jsonl"
        path.write_text(rec(1).to_json() + '\n{"id": 5}\n')
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert [r.id for r in read_jsonl(path, on_error="skip")] == ["r0000001"]
        with pytest.raises(ValueError, match=r"c.jsonl:2: unreadable record"):
            list(read_jsonl(path, on_error="raise"))

    def test_old_and_new_fields(self, tmp_path: Path) -> None:
        """Lines from older versions (fewer fields) and newer ones (unknown fields) are read."""
        path = tmp_path / "c.jsonl"
        d = rec(1).as_dict()
        for f in ("http_requests", "saved_usd", "cache_hit", "cascade_id", "infra_cost_usd"):
            d.pop(f)
        d["field_from_the_future"] = {"x": 1}
        path.write_text(json.dumps(d) + "\n")
        (r,) = read_jsonl(path)
        assert (r.id, r.http_requests, r.saved_usd, r.cache_hit) == ("r0000001", 1, None, False)

    def test_invalid_on_error(self, tmp_path: Path) -> None:
        """An unknown on_error value is a configuration error."""
        path = tmp_path / "c.jsonl"
        path.write_text("")
        with pytest.raises(ConfigurationError, match="on_error='ignore' is not one of"):
            list(read_jsonl(path, on_error="ignore"))  # type: ignore[arg-type]


class TestDispatch:
    def test_read_records_detects_the_format(self, tmp_path: Path) -> None:
        """read_records reads SQLite files by their header and anything else as JSONL."""
        jsonl, db = tmp_path / "calls.log", tmp_path / "calls.data"
        _write(jsonl, rec(1))
        sink = SQLiteSink(db)
        sink.emit(rec(2))
        sink.close()
        assert [r.id for r in read_records(jsonl)] == ["r0000001"]
        assert [r.id for r in read_records(db)] == ["r0000002"]

    def test_read_sqlite_filters_and_errors(self, tmp_path: Path) -> None:
        """where/params filter rows; a missing file or table is a configuration error."""
        db = tmp_path / "c.db"
        sink = SQLiteSink(db)
        sink.emit_batch([rec(1, team="a"), rec(2, team="b"), rec(3, team="a")])
        sink.close()
        assert [r.id for r in read_sqlite(db, where="team = ?", params=["a"])] == ["r0000001", "r0000003"]
        with pytest.raises(ConfigurationError, match="does not exist"):
            list(read_sqlite(tmp_path / "missing.db"))
        with pytest.raises(ConfigurationError, match="has no table 'other'"):
            list(read_sqlite(db, table="other"))
