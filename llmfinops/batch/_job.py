"""``submit`` / ``resume`` / ``estimate`` and the :class:`BatchJob` they return."""

from __future__ import annotations

__all__ = ["BatchJob", "estimate", "resume", "submit"]

import inspect
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from llmfinops._config import get_config
from llmfinops._context import tags
from llmfinops._ids import stable_id
from llmfinops._internal import handle_internal_errors, logger
from llmfinops._recorder import CallState, ClientRuntime, add_listener, remove_listener
from llmfinops._wrap import runtime_of, wrap
from llmfinops.exceptions import ConfigurationError, UnsupportedClientError
from llmfinops.records import CallRecord
from llmfinops.tokens import estimate_prompt_tokens
from llmfinops.usage import Usage

from ._drivers import Driver, RawResult, driver_for, normalize
from ._model import Backoff, BatchEstimate, BatchFailed, BatchResult, BatchSavings, BatchTimeout

_ZERO = Decimal(0)


def _provider_of(client: Any) -> str:
    from llmfinops.providers import adapter_for

    if isinstance(client, str):
        return client
    adapter = adapter_for(client)
    if adapter is None:
        raise UnsupportedClientError(
            f"llmfinops.batch cannot drive {type(client).__module__}.{type(client).__qualname__}; "
            "pass an openai.OpenAI, anthropic.Anthropic or google.genai.Client"
        )
    return str(adapter.PROVIDER)


def _runtime(client: Any) -> ClientRuntime:
    """The wrapped client's runtime (wrapping it with defaults if needed); refuses async clients."""
    request = getattr(client, "request", None)
    if inspect.iscoroutinefunction(request) or type(client).__name__.startswith("Async"):
        raise ConfigurationError(
            f"llmfinops.batch needs a sync client, got {type(client).__name__}; "
            "batches are polled for minutes to hours, so create a sync client "
            "(e.g. OpenAI() next to your AsyncOpenAI()) for them"
        )
    rt = runtime_of(client)
    if rt is None:
        wrap(client)
        rt = runtime_of(client)
    assert rt is not None
    return rt


def _observed(
    driver: Driver, batch_id: str, into: dict[str, CallRecord], fn: Callable[..., Any], *args: Any
) -> Any:
    """Run a provider call tagged ``batch_id``, keeping the result records an adapter writes meanwhile.

    The Anthropic and Google adapters record batch results themselves when a wrapped client
    reads them; tagging the read and listening for its records is how this module knows a
    result was recorded (and never records it a second time).
    """
    tag = driver.result_id_tag

    def on_record(rec: CallRecord) -> None:
        if rec.provider == driver.provider and rec.tags.get("batch_id") == batch_id:
            cid = rec.tags.get("custom_id") or rec.tags.get(tag)
            if cid is not None:
                into.setdefault(cid, rec)

    add_listener(on_record)
    try:
        with tags(batch_id=batch_id):
            return fn(*args)
    finally:
        remove_listener(on_record)


def _report(where: str, exc: Exception) -> None:
    """Log and warn once about an internal failure (the batch's results are still returned)."""
    with handle_internal_errors(where):
        raise exc


def _price(runtime: ClientRuntime, provider: str, model: str, usage: Usage, at: datetime) -> Decimal | None:
    return runtime.table(get_config()).cost(provider, model, usage, at=at).total


def _at_standard(usage: Usage) -> Usage:
    return replace(usage, service_tier=None, modifiers=dict(usage.modifiers))


class BatchJob:
    """A submitted batch: poll it, wait for it, read its results (recorded once, at batch prices).

    Create one with :func:`submit` or :func:`resume`, never directly.

    Attributes:
        id: The provider's batch id (OpenAI ``batch_...``, Anthropic ``msgbatch_...``,
            Google ``batches/...``): keep it to :func:`resume` from another process.
        provider: ``openai``, ``anthropic`` or ``google``.
        raw: The SDK's batch object as last retrieved.

    Example:
        >>> import llmfinops.batch
        >>> from llmfinops.testing.anthropic import AnthropicMock, anthropic_client, batch_succeeded
        >>> done = batch_succeeded("request-1", input_tokens=100_000, output_tokens=20_000)
        >>> client = llmfinops.wrap(anthropic_client(AnthropicMock(batch_results=[done])), sinks=[])
        >>> job = llmfinops.batch.submit(client, [{"model": "claude-sonnet-4-5", "max_tokens": 20_000,
        ...     "messages": [{"role": "user", "content": "Summarize: ..."}]}])
        >>> job.wait(sleep=lambda seconds: None).savings().saved_usd  # offline: no pause between polls
        Decimal('0.3000000')
    """

    def __init__(self, client: Any, driver: Driver, raw: Any, runtime: ClientRuntime) -> None:
        self._client = client
        self._driver = driver
        self._runtime = runtime
        self.raw = raw
        self.provider = driver.provider
        self.id = driver.batch_id(raw)
        self._results: list[BatchResult] | None = None
        self._records: dict[str, CallRecord] = {}
        self._order: dict[str, int] = {}
        """Submission order of the custom ids (results come back in any order)."""
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BatchJob(provider={self.provider!r}, id={self.id!r}, status={self.status!r})"

    @property
    def status(self) -> str:
        """The provider's status as last retrieved (``in_progress``, ``ended``, ``JOB_STATE_RUNNING``...)."""
        return self._driver.status(self.raw)

    @property
    def done(self) -> bool:
        """Whether the batch has ended (succeeded, failed, expired or was cancelled)."""
        return self._driver.done(self.raw)

    @property
    def errors(self) -> list[str]:
        """Batch-level errors the provider reports (e.g. OpenAI input validation)."""
        return self._driver.errors(self.raw)

    # -- polling --------------------------------------------------------------------------------
    def refresh(self) -> BatchJob:
        """Retrieve the batch's current state (one API call); return ``self``.

        Example:
            >>> import llmfinops.batch
            >>> from llmfinops.testing.anthropic import anthropic_client
            >>> client = llmfinops.wrap(anthropic_client(), sinks=[])  # an offline Anthropic()
            >>> job = llmfinops.batch.submit(client, [{"model": "claude-sonnet-4-5", "max_tokens": 100,
            ...     "messages": [{"role": "user", "content": "Hi"}]}])
            >>> job.status, job.refresh().status
            ('in_progress', 'ended')
        """
        self.raw = _observed(
            self._driver, self.id, self._records, self._driver.retrieve, self._client, self.id
        )
        return self

    def wait(
        self,
        *,
        poll: Backoff | None = None,
        timeout: float | None = None,
        sleep: Callable[[float], object] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> BatchJob:
        """Poll with exponential backoff until the batch ends; return ``self``.

        Args:
            poll: Delays between polls (default ``Backoff(initial=15, factor=2, max=300)``).
            timeout: Give up after this many seconds (the batch keeps running).
            sleep: Called with each delay (default ``time.sleep``; tests pass a fake).
            clock: Monotonic seconds (default: the configured clock's ``monotonic``).

        Raises:
            BatchTimeout: ``timeout`` passed first.

        Example:
            >>> import llmfinops.batch
            >>> from llmfinops.batch import Backoff
            >>> from llmfinops.testing.anthropic import anthropic_client
            >>> client = llmfinops.wrap(anthropic_client(), sinks=[])  # an offline Anthropic()
            >>> job = llmfinops.batch.submit(client, [{"model": "claude-sonnet-4-5", "max_tokens": 100,
            ...     "messages": [{"role": "user", "content": "Hi"}]}])
            >>> pauses = []  # sleep=pauses.append: note each delay instead of sleeping
            >>> job.wait(poll=Backoff(initial=30, max=600), timeout=6 * 3600, sleep=pauses.append)
            BatchJob(provider='anthropic', id='msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d', status='ended')
            >>> pauses
            [30.0]
        """
        delays = (poll or Backoff()).delays()
        sleep_fn = sleep or time.sleep
        now = clock or get_config().clock.monotonic
        start = now()
        while not self.done:
            delay = next(delays)
            if timeout is not None:
                left = timeout - (now() - start)
                if left <= 0:
                    raise BatchTimeout(self.id, self.status, now() - start)
                delay = min(delay, left)
            logger.debug("batch %s is %s; next poll in %.1fs", self.id, self.status, delay)
            sleep_fn(delay)
            self.refresh()
        return self

    def cancel(self) -> BatchJob:
        """Ask the provider to cancel the batch (finished requests stay billed); return ``self``.

        Example:
            >>> import httpx2, llmfinops.batch
            >>> from llmfinops.testing.anthropic import anthropic_client, message_batch
            >>> def api(request):  # offline: a batch in progress, "canceling" once cancelled
            ...     batch = message_batch(ended=False)
            ...     if request.url.path.endswith("/cancel"):
            ...         batch["processing_status"] = "canceling"
            ...     return httpx2.Response(200, json=batch)
            >>> client = llmfinops.wrap(anthropic_client(api), sinks=[])
            >>> job = llmfinops.batch.resume(client, "msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d")
            >>> job.status, job.cancel().status
            ('in_progress', 'canceling')
        """
        c = self._client
        if self.provider == "openai":
            self.raw = c.batches.cancel(self.id)
        elif self.provider == "anthropic":
            self.raw = c.messages.batches.cancel(self.id)
        else:
            c.batches.cancel(name=self.id)
            self.refresh()
        return self

    # -- results ----------------------------------------------------------------------------------
    def results(self) -> list[BatchResult]:
        """Every result of the ended batch, each succeeded one recorded exactly once.

        Results are read from the provider once per job object; later calls return the same
        list. Each succeeded request gives one :class:`~llmfinops.CallRecord` at the
        ``batch`` tier with ``tags["custom_id"]`` (Google: ``batch_request_key``) and
        ``tags["batch_id"]``: written by the provider adapter where it records batch results
        (Anthropic, Google), by llmfinops.batch otherwise (OpenAI, endpoint ``openai.batch``).

        Raises:
            BatchFailed: The batch ended without any result (e.g. it failed validation).
            ConfigurationError: The batch has not ended yet (call :meth:`wait` first).

        Example:
            >>> import llmfinops.batch
            >>> from llmfinops.testing.anthropic import (AnthropicMock, anthropic_client,
            ...                                          batch_errored, batch_succeeded)
            >>> api = AnthropicMock(batch_results=[batch_succeeded("ticket-1"), batch_errored("ticket-2")])
            >>> client = llmfinops.wrap(anthropic_client(api), sinks=[])  # an offline Anthropic()
            >>> job = llmfinops.batch.resume(client, "msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d")  # it has ended
            >>> for r in job.wait().results():
            ...     print(r.custom_id, r.ok, r.cost_usd)
            ticket-1 True 0.0000855
            ticket-2 False None
        """
        with self._lock:
            if self._results is not None:
                return self._results
            if not self.done:
                self.refresh()
            if not self.done:
                raise ConfigurationError(
                    f"batch {self.id!r} is still {self.status!r}; call job.wait() before job.results()"
                )
            if not self._driver.has_output(self.raw):
                raise BatchFailed(self.id, self.status, self.errors)
            raws = _observed(self._driver, self.id, self._records, self._driver.fetch, self._client, self.raw)
            order = self._order
            raws.sort(key=lambda r: order.get(r.custom_id, len(order)))
            self._results = [self._finish(r) for r in raws]
            return self._results

    def _finish(self, raw: RawResult) -> BatchResult:
        res = BatchResult(custom_id=raw.custom_id, status=raw.status, response=raw.response, error=raw.error)
        if raw.status != "succeeded" or raw.usage is None:
            return res
        usage = raw.usage
        usage.service_tier = "batch"
        res.usage = usage
        created, ended = self._driver.times(self.raw)
        rec = self._records.get(raw.custom_id)
        if rec is None and not self._driver.recorded_elsewhere(self.id, raw.custom_id):
            # No adapter recorded it while we read: we are the recorder (always so for OpenAI).
            rec = self._record(raw, usage, created, ended)
        at = rec.timestamp if rec is not None else (ended or created or get_config().clock.now())
        model = raw.response_model or raw.model
        if rec is not None:
            res.record = rec
            res.cost_usd = rec.cost_usd
            model = rec.price_model or model
        else:  # the adapter recorded it earlier in this process (e.g. a batches.get of your own)
            res.cost_usd = _price(self._runtime, self.provider, model, usage, at)
        res.standard_cost_usd = _price(self._runtime, self.provider, model, _at_standard(usage), at)
        return res

    def _record(
        self, raw: RawResult, usage: Usage, created: datetime | None, ended: datetime | None
    ) -> CallRecord | None:
        try:
            state = CallState(
                self._runtime,
                endpoint=f"{self.provider}.batch",
                operation=raw.operation,
                model=raw.model,
            )
            # Priced when the batch ended (when its tokens were processed), like the Google
            # adapter's batch records; latency is the batch's turnaround.
            if ended is not None:
                state.timestamp = ended
                if created is not None:
                    state.start -= max((ended - created).total_seconds(), 0.0)
            state.tag_snapshot = {**state.tag_snapshot, "custom_id": raw.custom_id, "batch_id": self.id}
            # The same id in every process that records this result (a sink with unique ids keeps one).
            state.record_id = stable_id(self.provider, self.id, raw.custom_id)
            state.usage = usage
            state.response_model = raw.response_model
            state.request_id = raw.request_id
            return state.finish(sync=True)
        except Exception as exc:
            _report(f"{self.provider}.batch_result", exc)
            return None

    def savings(self) -> BatchSavings:
        """Actual batch cost of the succeeded requests versus the same usage at synchronous prices.

        Example:
            >>> import llmfinops.batch
            >>> from llmfinops.testing.anthropic import AnthropicMock, anthropic_client, batch_succeeded
            >>> done = batch_succeeded("request-1", input_tokens=100_000, output_tokens=20_000)
            >>> client = llmfinops.wrap(anthropic_client(AnthropicMock(batch_results=[done])), sinks=[])
            >>> job = llmfinops.batch.resume(client, "msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d")
            >>> s = job.savings()
            >>> print(f"saved ${s.saved_usd:.2f} ({s.saved_fraction:.0%})")
            saved $0.30 (50%)
        """
        results = self.results()
        ok = [r for r in results if r.ok]
        priced = [r for r in ok if r.cost_usd is not None and r.standard_cost_usd is not None]
        unpriced = sorted({str(getattr(r.response, "model", "") or "") for r in ok if r not in priced})
        return BatchSavings(
            results=len(ok),
            priced=len(priced),
            batch_cost_usd=sum((r.cost_usd for r in priced if r.cost_usd is not None), _ZERO),
            standard_cost_usd=sum(
                (r.standard_cost_usd for r in priced if r.standard_cost_usd is not None), _ZERO
            ),
            unpriced_models=tuple(unpriced),
        )


def submit(
    client: Any,
    requests: Sequence[Any],
    *,
    model: str | None = None,
    endpoint: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> BatchJob:
    """Submit ``requests`` through the provider's batch API (50 % off, results within 24 h).

    Args:
        client: A sync ``openai.OpenAI``, ``anthropic.Anthropic`` or ``google.genai.Client``
            (wrapped with :func:`llmfinops.wrap` if it is not yet).
        requests: Dicts of the synchronous call's keyword arguments, optionally as
            ``{"custom_id": ..., "params": {...}}`` / :class:`BatchRequest`. Ids default to
            ``request-1``, ``request-2``...
        model: Default model for requests without one (Google: the batch's model).
        endpoint: OpenAI endpoint (default: guessed from the first request's keys).
        metadata: OpenAI batch metadata; Google uses ``display_name`` from it.

    Returns:
        The :class:`BatchJob`.

    Raises:
        ConfigurationError: Invalid requests (duplicate ids, missing model, over a provider limit...),
            detected before anything is uploaded.
        UnsupportedClientError: ``client`` is not a supported SDK client.

    Example:
        >>> import llmfinops.batch
        >>> from llmfinops.testing.anthropic import AnthropicMock, anthropic_client, batch_succeeded
        >>> api = AnthropicMock(batch_results=[batch_succeeded("request-1"), batch_succeeded("request-2")])
        >>> client = llmfinops.wrap(anthropic_client(api), sinks=[])  # an offline Anthropic()
        >>> texts = ["Great product!", "Arrived broken."]
        >>> requests = [{"model": "claude-sonnet-4-5", "max_tokens": 100,
        ...              "messages": [{"role": "user", "content": t}]} for t in texts]
        >>> job = llmfinops.batch.submit(client, requests)
        >>> results = job.wait(sleep=lambda seconds: None).results()  # offline: no pause between polls
        >>> [(r.custom_id, r.ok) for r in results]
        [('request-1', True), ('request-2', True)]
    """
    provider = _provider_of(client)
    driver = driver_for(provider)
    items = normalize(requests, provider)
    sub = driver.prepare(items, model=model, endpoint=endpoint)
    runtime = _runtime(client)
    raw = driver.create(client, sub, metadata=metadata)
    job = BatchJob(client, driver, raw, runtime)
    job._order = {it.custom_id: i for i, it in enumerate(items)}
    logger.info("submitted %s batch %s with %d requests", provider, job.id, len(items))
    return job


def resume(client: Any, batch_id: str) -> BatchJob:
    """Pick up a batch submitted earlier (e.g. by last night's run) by its id.

    Results are recorded when read, once per job object: reading the same batch's results
    again in another process writes its records again.

    Example:
        >>> import llmfinops.batch
        >>> from llmfinops.testing.anthropic import anthropic_client
        >>> client = llmfinops.wrap(anthropic_client(), sinks=[])  # an offline Anthropic()
        >>> job = llmfinops.batch.resume(client, "msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d")
        >>> job.status, job.done
        ('ended', True)
    """
    provider = _provider_of(client)
    driver = driver_for(provider)
    runtime = _runtime(client)
    records: dict[str, CallRecord] = {}
    raw = _observed(driver, batch_id, records, driver.retrieve, client, batch_id)
    job = BatchJob(client, driver, raw, runtime)
    job._records.update(records)
    return job


def estimate(
    client: Any,
    requests: Sequence[Any],
    *,
    model: str | None = None,
    endpoint: str | None = None,
    at: datetime | None = None,
) -> BatchEstimate:
    """Estimate a batch's cost before submitting it, and the saving versus synchronous calls.

    Prompt tokens are counted offline (:func:`llmfinops.tokens.estimate_prompt_tokens`: exact
    BPE for OpenAI, +20 % margin for other providers); output is bounded by each request's
    cap (``max_tokens``, ``max_completion_tokens``, ``config.max_output_tokens``). Nothing is sent.

    Args:
        client: The client you would submit with, or a provider name (``"openai"``...).
        requests: As for :func:`submit`.
        model: As for :func:`submit`.
        endpoint: As for :func:`submit`.
        at: Price instant (default: now).

    Example:
        >>> import llmfinops.batch
        >>> e = llmfinops.batch.estimate("anthropic", [{"model": "claude-haiku-4-5", "max_tokens": 200,
        ...     "messages": [{"role": "user", "content": "Classify: great product"}]}])
        >>> e.requests, e.max_output_tokens
        (1, 200)
    """
    provider = _provider_of(client)
    driver = driver_for(provider)
    items = normalize(requests, provider)
    cfg = get_config()
    runtime = runtime_of(client) if not isinstance(client, str) else None
    table = runtime.table(cfg) if runtime is not None else cfg.table()
    when = at or cfg.clock.now()
    total_in = 0
    total_out: int | None = 0
    lo: Decimal | None = _ZERO
    hi: Decimal | None = _ZERO
    std: Decimal | None = _ZERO
    unpriced: set[str] = set()
    notes: list[str] = []
    for it in items:
        if provider == "openai" and endpoint is not None:
            it.url = endpoint
        m, body, cap, embedding = driver.wire(it, model=model)
        n_in = estimate_prompt_tokens(provider, body, model=m)
        total_in += n_in
        if cap is None and not embedding:
            total_out = None
            if not notes:
                notes.append(f"request {it.custom_id!r} has no output cap, so there is no upper bound")
        elif total_out is not None:
            total_out += cap or 0
        batch_in = table.cost(provider, m, Usage(input_tokens=n_in, service_tier="batch"), at=when).total
        if batch_in is None:
            unpriced.add(m)
            lo = hi = std = None
            continue
        if lo is not None:
            lo += batch_in
        if cap is None and not embedding:
            hi = std = None
            continue
        out = cap or 0
        b = table.cost(
            provider, m, Usage(input_tokens=n_in, output_tokens=out, service_tier="batch"), at=when
        ).total
        s = table.cost(provider, m, Usage(input_tokens=n_in, output_tokens=out), at=when).total
        if hi is not None and b is not None:
            hi += b
        if std is not None and s is not None:
            std += s
    return BatchEstimate(
        requests=len(items),
        input_tokens=total_in,
        max_output_tokens=total_out,
        batch_cost_usd_min=lo,
        batch_cost_usd_max=hi,
        standard_cost_usd_max=std,
        unpriced_models=tuple(sorted(unpriced)),
        notes=tuple(notes),
    )
