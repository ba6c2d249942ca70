"""Batch results files of google-genai, recorded as a wrapped client downloads them.

A finished batch job whose results went to a file (``output.responsesFile``) is registered when
``batches.get``/``batches.list`` first shows it finished (``_google_resources``). Downloading that
file through the wrapped client (``client.files.download(file=...)``, sync or ``aio``, to memory,
to a path or to a writable stream) reads it as it passes: one record per billed line, at the
``batch`` tier, written as the line arrives. Each line is recorded once per process: a download
that fails half-way has recorded the lines it read, and the next download of the file records
the rest (lines are counted in file order); downloads running at the same time share the lines
between them. Files this process never saw as a job's results pass through untouched.

Memory stays constant (the current line only) and a line is never parsed whole: its usage block,
model version, response id and request key are located and decoded alone, as the live path reads
response bodies (``_google_usage``).
"""

from __future__ import annotations

__all__ = [
    "BatchResults",
    "FileDestination",
    "TeeDestination",
    "batch_results_for",
    "download_done",
    "download_failed",
    "is_stream",
    "tee_destination",
]

import json
import os
import re
from typing import IO, Any

from llmfinops._config import get_config
from llmfinops._internal import logger, report_internal, warn_once
from llmfinops._recorder import ClientRuntime
from llmfinops.exceptions import UsageExtractionFailedWarning

from ._google_resources import _batch_files, _BatchFile, _lock, _record_result, file_key
from ._google_usage import scan_key, scan_meta, scan_usage

_USAGE_KEY = '"usageMetadata"'
# "response" as an object key (a string value is never followed by ":")
_RESPONSE_KEY = re.compile(r'"response"[ \t\r\n]*:')
_KEY = '"key"'
_TOKEN_COUNT = re.compile(r'"tokenCount"[ \t\r\n]*:[ \t\r\n]*"?([0-9]+)"?')


def batch_results_for(runtime: ClientRuntime, path: Any) -> BatchResults | None:
    """A reader for the download of ``path`` if it is the results file of a finished batch job seen here.

    ``None`` for any other download, and once the file has been read whole. Never raises.

    Example:
        >>> from llmfinops._recorder import ClientRuntime
        >>> batch_results_for(ClientRuntime("google"), "files/never-seen:download?alt=media") is None
        True
    """
    if not isinstance(path, str) or ":download" not in path:
        return None
    try:
        key = file_key(path)
        info = _batch_files.get(key)
    except Exception:
        report_internal("google.batch_file")
        return None
    return BatchResults(runtime, key, info) if info is not None else None


def _line_key(text: str, response_at: int) -> str | None:
    """The request key of a results line: ``key`` (or ``metadata.key``) before the response."""
    head = text if response_at < 0 else text[:response_at]
    if _KEY in head:
        value = scan_key(head, _KEY)
        return value if isinstance(value, str) else None
    if response_at >= 0 and _KEY in text:  # written after the response: rare, read the whole line
        try:
            item = json.loads(text)
        except ValueError:
            return None
        key = item.get("key") if isinstance(item, dict) else None
        return key if isinstance(key, str) else None
    return None


class BatchResults:
    r"""The results file of one batch job, read as its download passes: one record per billed line.

    Lines are ``{"key": ..., "response": {GenerateContentResponse}}`` (or the response alone; an
    embedding result carries ``tokenCount``); a line with an ``error`` is an unbilled request.

    Example:
        >>> from llmfinops._recorder import ClientRuntime
        >>> from llmfinops.providers._google_resources import _BatchFile
        >>> job = _BatchFile("batches/1", "gemini-2.5-flash", None, {})
        >>> reader = BatchResults(ClientRuntime("google"), "files/batch-1", job)
        >>> usage = b'{"usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 2}}'
        >>> reader.feed(b'{"key": "a", "response": ' + usage + b'}\n{"key": "b", "er')
        >>> reader.feed(b'ror": {"code": 400}}\n')
        >>> (reader.lines, reader.recorded)
        (2, 1)
    """

    def __init__(self, runtime: ClientRuntime, key: str, info: _BatchFile) -> None:
        self.runtime = runtime
        self.key = key
        self.info = info
        self._parts: list[bytes] = []
        self.lines = 0
        """Lines read so far (their index in the file)."""
        self.recorded = 0
        """Lines this reader recorded (those an earlier download recorded are skipped)."""
        self.unreported = 0
        self.bad_lines = 0

    def feed(self, chunk: bytes) -> None:
        """Read the next bytes of the file (records each line it completes)."""
        start = 0
        find = chunk.find
        while (end := find(b"\n", start)) >= 0:
            if self._parts:
                self._parts.append(chunk[start:end])
                line = b"".join(self._parts)
                self._parts = []
            else:
                line = chunk[start:end]
            self._line(line)
            start = end + 1
        if start < len(chunk):
            self._parts.append(chunk[start:])

    def _claim(self, index: int) -> bool:
        """Whether line ``index`` is this reader's to record (no download recorded it yet)."""
        info = self.info
        with _lock:
            if index < info.claimed:
                return False
            info.claimed = index + 1
            return True

    def _line(self, line: bytes) -> None:
        index = self.lines
        self.lines += 1
        text = line.decode("utf-8", "replace").strip()
        if not text or not self._claim(index):
            return
        try:
            self._record(text, index)
        except Exception:
            report_internal("google.batch_file")

    def _record(self, text: str, index: int) -> None:
        m_response = _RESPONSE_KEY.search(text)
        response_at = m_response.start() if m_response is not None else -1
        at = text.rfind(_USAGE_KEY)
        resp: dict[str, Any] | None = None
        if at >= 0:
            usage = scan_usage(text, at)
            if isinstance(usage, dict):
                model_version, response_id = scan_meta(text)
                resp = {"usageMetadata": usage, "modelVersion": model_version, "responseId": response_id}
        elif (m := _TOKEN_COUNT.search(text)) is not None:  # an embedding result: all input tokens
            resp = {"tokenCount": int(m.group(1))}
        if resp is None:
            if not text.startswith("{") or not text.endswith("}"):
                self.bad_lines += 1
            elif response_at >= 0 and '"error"' not in text:
                self.unreported += 1  # a response without usage: billed, but we cannot say how much
            return  # an error line: the request failed inside the batch, not billed
        info = self.info
        key = _line_key(text, response_at)
        if _record_result(self.runtime, info.job, info.model, info.when, resp, key, info.tags, f"#{index}"):
            self.recorded += 1
            self._make_room()

    def _make_room(self) -> None:
        """Backpressure: past a bound, drain the writer's queue here instead of letting it overflow.

        A results file is read faster than the writer thread builds records (they share the GIL).
        The bound (half the queue, at most 4,096 records) keeps each drain short (~50 ms).
        """
        writer = self.runtime.writer(get_config())
        if writer.pending >= max(1, min(writer.max_queue // 2, 4096)):
            writer.flush()

    def close(self) -> None:
        """The download completed: read a last line without newline, and retire the file."""
        if self._parts:
            line = b"".join(self._parts)
            self._parts = []
            self._line(line)
        with _lock:
            if _batch_files.get(self.key) is self.info:
                del _batch_files[self.key]  # read whole: later downloads pass through
        if self.bad_lines:
            logger.warning(
                "llmfinops: %d line(s) of %s (results of %s) are not JSON objects; not recorded",
                self.bad_lines,
                self.key,
                self.info.job,
            )
        if self.unreported:
            warn_once(
                UsageExtractionFailedWarning,
                f"google-batch-nousage:{self.key}",
                f"llmfinops: {self.unreported} response(s) in {self.key} (results of {self.info.job}) "
                "report no usage; they are not recorded",
            )

    def abort(self) -> None:
        """The download failed: drop the partial line (the lines read stay recorded)."""
        self._parts = []


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
        >>> from llmfinops.providers._google_resources import _BatchFile
        >>> out = io.BytesIO()
        >>> job = _BatchFile("batches/b", "gemini-2.5-flash", None, {})
        >>> reader = BatchResults(ClientRuntime("google"), "files/b", job)
        >>> TeeDestination(out, reader).write(b'{"key": "k", "error": {"code": 400}}\n')
        37
        >>> (out.getvalue()[:8], reader.lines, reader.recorded)
        (b'{"key": ', 1, 0)
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


class FileDestination(TeeDestination):
    r"""A path given as the download destination: written as the SDK would, and fed to the reader.

    The file is opened (``"wb"``) at the first chunk, as the SDK opens it only once the response
    is known to be good; :meth:`finish` closes it (and creates it empty if nothing came).

    Example:
        >>> import os, tempfile
        >>> from llmfinops._recorder import ClientRuntime
        >>> from llmfinops.providers._google_resources import _BatchFile
        >>> path = os.path.join(tempfile.mkdtemp(), "results.jsonl")
        >>> job = _BatchFile("batches/c", "gemini-2.5-flash", None, {})
        >>> dest = FileDestination(path, BatchResults(ClientRuntime("google"), "files/c", job))
        >>> dest.write(b"\n"), dest.finish(completed=True), os.path.getsize(path)
        (1, None, 1)
    """

    def __init__(self, path: str | os.PathLike[str], reader: BatchResults) -> None:
        super().__init__(None, reader)
        self.path = path

    def write(self, chunk: Any) -> Any:
        """Feed ``chunk`` to the reader and write it to the file (opened on the first chunk)."""
        if self.destination is None:
            self.destination = open(self.path, "wb")  # noqa: SIM115 - closed by finish()
        return super().write(chunk)

    def finish(self, *, completed: bool) -> None:
        """Close the file; a completed download that sent nothing leaves an empty file, as the SDK does."""
        fh: IO[bytes] | None = self.destination
        if fh is None and completed:
            fh = open(self.path, "wb")  # noqa: SIM115 - closed just below
        if fh is not None:
            fh.close()


def tee_destination(kwargs: dict[str, Any], reader: BatchResults) -> FileDestination | None:
    """Route ``kwargs["destination"]`` (a path or a stream) through the reader; the path's tee, if any.

    Never raises: a destination that cannot be teed is left as it is (and the file is read from
    the returned bytes only, i.e. not at all for it).
    """
    try:
        destination = kwargs.get("destination")
        if isinstance(destination, (str, os.PathLike)):
            tee = FileDestination(destination, reader)
            kwargs["destination"] = tee
            return tee
        if is_stream(destination):
            kwargs["destination"] = TeeDestination(destination, reader)
    except Exception:
        report_internal("google.batch_file")
    return None


def download_done(reader: BatchResults, data: Any, file_tee: FileDestination | None) -> None:
    """After a completed download: close the path's file, read returned bytes, finish the reader.

    Closing the file raises what the SDK's own ``with open(...)`` would; the reading never raises.
    """
    if file_tee is not None:
        file_tee.finish(completed=True)
    try:
        if isinstance(data, (bytes, bytearray)):
            reader.feed(bytes(data))
        reader.close()
    except Exception:
        report_internal("google.batch_file")


def download_failed(reader: BatchResults, file_tee: FileDestination | None) -> None:
    """After a failed download (the caller re-raises its error): close the file, drop the partial line."""
    reader.abort()
    if file_tee is not None:
        try:
            file_tee.finish(completed=False)
        except Exception:
            logger.debug("could not close a partly downloaded results file", exc_info=True)
