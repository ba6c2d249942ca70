"""Batch results files of google-genai, recorded as a wrapped client downloads them.

A finished batch job whose results went to a file (``output.responsesFile``) is registered when
``batches.get``/``batches.list`` first shows it finished (``_google_resources``). Downloading that
file through the wrapped client (``client.files.download(file=...)``, sync or ``aio``, to memory,
to a path or to a writable stream) reads it as it passes and writes one record per billed line,
at the ``batch`` tier, once the download completes. A download that fails records nothing and
leaves the file registered for the next one. Files this process never saw as a job's results are
passed through untouched.
"""

from __future__ import annotations

__all__ = ["BatchResults", "TeeDestination", "batch_results_for", "is_stream", "read_download"]

import json
import os
from typing import Any

from llmfinops._internal import logger, report_internal
from llmfinops._recorder import ClientRuntime

from ._google_resources import _batch_files, _BatchFile, _expect_file, _lock, _record_result, file_key


def batch_results_for(runtime: ClientRuntime, path: Any) -> BatchResults | None:
    """A reader for the download of ``path`` if it is the results file of a finished batch job seen here.

    The file is taken off the registry (each results file is recorded once per process); a
    download that fails puts it back (:meth:`BatchResults.abort`). Never raises.

    Example:
        >>> from llmfinops._recorder import ClientRuntime
        >>> batch_results_for(ClientRuntime("google"), "files/never-seen:download?alt=media") is None
        True
    """
    if not isinstance(path, str) or ":download" not in path:
        return None
    try:
        key = file_key(path)
        with _lock:
            info = _batch_files.pop(key, None)
    except Exception:
        report_internal("google.batch_file")
        return None
    return BatchResults(runtime, key, info) if info is not None else None


class BatchResults:
    r"""The results file of a batch job, read as its download passes: one record per billed line.

    Lines are ``{"key": ..., "response": {GenerateContentResponse}}`` (or a bare response; a line
    with an ``error`` is an unbilled request). Records are written when the whole file has been
    read (:meth:`close`), so a download that fails half-way records nothing and can be retried.

    Example:
        >>> from llmfinops._recorder import ClientRuntime
        >>> job = _BatchFile("batches/1", "gemini-2.5-flash", None)
        >>> reader = BatchResults(ClientRuntime("google"), "files/batch-1", job)
        >>> usage = b'{"usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 2}}'
        >>> reader.feed(b'{"key": "a", "response": ' + usage + b'}\n{"key": "b", "er')
        >>> reader.feed(b'ror": {"code": 400}}\n')
        >>> reader.billed
        1
    """

    def __init__(self, runtime: ClientRuntime, key: str, info: _BatchFile) -> None:
        self.runtime = runtime
        self.key = key
        self.info = info
        self._rest = b""
        self._results: list[tuple[dict[str, Any], str | None]] = []
        self.bad_lines = 0

    @property
    def billed(self) -> int:
        """Lines read so far that carry usage (the records :meth:`close` will write)."""
        return len(self._results)

    def feed(self, chunk: bytes) -> None:
        """Read the next bytes of the file."""
        data = self._rest + chunk if self._rest else chunk
        lines = data.split(b"\n")
        self._rest = lines.pop()
        for line in lines:
            self._line(line)

    def _line(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            item = json.loads(line)
        except ValueError:
            self.bad_lines += 1
            return
        if not isinstance(item, dict):
            self.bad_lines += 1
            return
        resp = item.get("response")
        if resp is None and "usageMetadata" in item:
            resp = item  # a line that is the response itself
        if isinstance(resp, dict) and isinstance(resp.get("usageMetadata"), dict):
            # keep only what the record needs, not the generated text
            kept = {k: resp[k] for k in ("usageMetadata", "modelVersion", "responseId") if k in resp}
            if "embedding" in resp or "embeddings" in resp:
                kept["embedding"] = True
            key = item.get("key")
            self._results.append((kept, key if isinstance(key, str) else None))

    def close(self) -> None:
        """The download completed: write the records."""
        if self._rest:
            self._line(self._rest)
            self._rest = b""
        info = self.info
        for resp, key in self._results:
            _record_result(self.runtime, info.job, info.model, info.when, resp, key)
        if self.bad_lines:
            logger.warning(
                "llmfinops: %d line(s) of %s (results of %s) were not JSON objects; not recorded",
                self.bad_lines,
                self.key,
                info.job,
            )
        self._results = []

    def abort(self) -> None:
        """The download failed: nothing is recorded, and the next download of the file will be."""
        self._results = []
        self._rest = b""
        _expect_file(self.key, self.info)


def is_stream(destination: Any) -> bool:
    """Whether a download ``destination`` is a writable stream (not ``None`` or a path).

    Example:
        >>> import io
        >>> is_stream(io.BytesIO()), is_stream("out.jsonl"), is_stream(None)
        (True, False, False)
    """
    return (
        destination is not None
        and not isinstance(destination, (str, os.PathLike))
        and hasattr(destination, "write")
    )


class TeeDestination:
    r"""A writable download destination that also feeds what is written to a :class:`BatchResults`.

    Only ``write`` is called by the SDK; its result (an awaitable for an async stream) is returned
    unchanged.

    Example:
        >>> import io
        >>> from llmfinops._recorder import ClientRuntime
        >>> out = io.BytesIO()
        >>> job = _BatchFile("batches/b", "gemini-2.5-flash", None)
        >>> reader = BatchResults(ClientRuntime("google"), "files/b", job)
        >>> TeeDestination(out, reader).write(b'{"key": "k", "error": {"code": 400}}\n')
        37
        >>> (out.getvalue()[:8], reader.billed)
        (b'{"key": ', 0)
    """

    def __init__(self, destination: Any, reader: BatchResults) -> None:
        self.destination = destination
        self.reader = reader

    def write(self, chunk: Any) -> Any:
        """Feed ``chunk`` to the reader, then write it to the destination."""
        try:
            self.reader.feed(bytes(chunk))
        except Exception:
            report_internal("google.batch_file")
        return self.destination.write(chunk)


def read_download(reader: BatchResults, data: Any, destination: Any) -> None:
    """After a completed download: feed what the reader has not seen yet, then write the records.

    ``data`` is what ``download_file`` returned (the bytes, when there was no destination); a
    path destination is read back from disk; a stream destination was fed as it was written.
    Never raises.
    """
    try:
        if isinstance(data, (bytes, bytearray)):
            reader.feed(bytes(data))
        elif isinstance(destination, (str, os.PathLike)):
            with open(destination, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    reader.feed(chunk)
        reader.close()
    except Exception:
        report_internal("google.batch_file")
