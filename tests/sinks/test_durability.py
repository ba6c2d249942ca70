"""Durability across process death: SIGKILL mid-stream, interpreter exit, fork."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from llmfinops.sinks import read_jsonl, read_sqlite

from .conftest import ROOT

pytestmark = pytest.mark.slow

RunPython = Callable[..., subprocess.CompletedProcess[str]]

WRITER = """
import sys, itertools
from llmfinops.sinks import JSONLSink
from llmfinops.sinks.sqlite import SQLiteSink
from llmfinops.sinks._writer import BackgroundWriter
from llmfinops.testing import make_record

w = BackgroundWriter(
    [JSONLSink(sys.argv[1]), SQLiteSink(sys.argv[2])], flush_interval=0.002, batch_size=37
)
print("ready", flush=True)
for i in itertools.count():
    w.submit(make_record(id=f"{i:010d}", tags={"pad": "x" * (i % 300)}))
    if i % 50 == 0:
        import time; time.sleep(0.001)
"""


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


class TestKill:
    def test_sigkill_leaves_every_committed_record_readable(self, tmp_path: Path) -> None:
        """SIGKILL mid-stream: JSONL has whole lines plus at most a torn tail; SQLite is intact."""
        jsonl, db = tmp_path / "calls.jsonl", tmp_path / "calls.db"
        with subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITER), str(jsonl), str(db)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
        ) as proc:
            try:
                assert proc.stdout is not None
                assert proc.stdout.readline() == b"ready\n"
                deadline = time.monotonic() + 30
                while _count_lines(jsonl) < 3000 and time.monotonic() < deadline:
                    time.sleep(0.01)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        assert proc.returncode == -signal.SIGKILL

        raw = jsonl.read_bytes()
        lines = raw.split(b"\n")
        complete, tail = lines[:-1], lines[-1]
        assert len(complete) >= 3000
        ids = [json.loads(line)["id"] for line in complete]  # every complete line parses
        assert ids == [f"{i:010d}" for i in range(len(ids))]  # in order, none missing
        assert [r.id for r in read_jsonl(jsonl)] == ids  # a torn tail, if any, is skipped
        if tail:
            with pytest.raises(ValueError):
                json.loads(tail)

        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (n,) = conn.execute("SELECT COUNT(*) FROM llm_call_log").fetchone()
        conn.close()
        rows = [r.id for r in read_sqlite(db)]
        assert len(rows) == n > 0
        assert sorted(rows) == [f"{i:010d}" for i in range(n)]  # whole batches: a prefix of the stream


class TestExit:
    def test_records_flushed_at_interpreter_exit(self, run_python: RunPython, tmp_path: Path) -> None:
        """Queued records are written when the interpreter exits normally."""
        result = run_python(
            """
            import llmfinops
            from llmfinops.sinks import JSONLSink
            from llmfinops.sinks.sqlite import SQLiteSink
            from llmfinops.testing import make_record
            from llmfinops.sinks._writer import BackgroundWriter
            w = BackgroundWriter([JSONLSink("calls.jsonl"), SQLiteSink("calls.db")], flush_interval=3600, wake_at=1000)
            for i in range(250):
                w.submit(make_record(id=f"{i:04d}"))
            print(w.pending)
            """
        )
        assert (result.returncode, result.stdout, result.stderr) == (0, "250\n", "")
        assert [r.id for r in read_jsonl(tmp_path / "calls.jsonl")] == [f"{i:04d}" for i in range(250)]
        assert len(list(read_sqlite(tmp_path / "calls.db"))) == 250

    def test_wrapped_calls_flushed_at_exit_through_configure(
        self, run_python: RunPython, tmp_path: Path
    ) -> None:
        """A real wrapped client's records reach the configured sink although the script never flushes."""
        result = run_python(
            """
            import llmfinops
            from llmfinops.sinks.sqlite import SQLiteSink
            from llmfinops.testing.openai import OpenAIMock, openai_client
            llmfinops.configure(sinks=[SQLiteSink("calls.db")], flush_interval=3600, user_id_key="k")
            client = llmfinops.wrap(openai_client(OpenAIMock(prompt_tokens=1200, completion_tokens=300)))
            messages = [{"role": "user", "content": "hi"}]
            with llmfinops.tags(team="search"):
                for _ in range(3):
                    client.chat.completions.create(model="gpt-4o", messages=messages)
            """
        )
        assert result.returncode == 0, result.stderr
        records = list(read_sqlite(tmp_path / "calls.db"))
        assert [(r.team, r.input_tokens, r.output_tokens) for r in records] == [("search", 1200, 300)] * 3


class TestFork:
    def test_child_does_not_duplicate_parent_queue_and_writes_its_own(
        self, run_python: RunPython, tmp_path: Path
    ) -> None:
        """After fork the child starts with an empty queue and its own thread; the parent writes its own."""
        result = run_python(
            """
            import os, time
            from llmfinops.sinks import JSONLSink
            from llmfinops.sinks.sqlite import SQLiteSink
            from llmfinops.sinks._writer import BackgroundWriter
            from llmfinops.testing import make_record
            w = BackgroundWriter([JSONLSink("calls.jsonl"), SQLiteSink("calls.db")], flush_interval=0.01)
            w.submit(make_record(id="parent-0"))
            w.flush()
            w.flush_interval = 3600
            for i in range(1, 4):
                w.submit(make_record(id=f"parent-{i}"))
            pid = os.fork()
            if pid == 0:
                assert w.pending == 0, w.pending
                base = w.written
                w.flush_interval = 0.01
                w.submit(make_record(id="child-0"))
                w.submit(make_record(id="child-1"))
                deadline = time.monotonic() + 10
                while w.written < base + 2 and time.monotonic() < deadline:  # the child's own thread
                    time.sleep(0.005)
                os._exit(0 if w.written == base + 2 else 3)
            _, status = os.waitpid(pid, 0)
            w.flush()
            print(os.waitstatus_to_exitcode(status), w.written)
            """
        )
        assert (result.returncode, result.stdout, result.stderr) == (0, "0 4\n", "")
        expected = {"parent-0", "parent-1", "parent-2", "parent-3", "child-0", "child-1"}
        jsonl_ids = [r.id for r in read_jsonl(tmp_path / "calls.jsonl")]
        assert sorted(jsonl_ids) == sorted(expected)
        assert sorted(r.id for r in read_sqlite(tmp_path / "calls.db")) == sorted(expected)
        conn = sqlite3.connect(tmp_path / "calls.db")
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
