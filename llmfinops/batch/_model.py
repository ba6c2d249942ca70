"""Value objects of the batch helpers: requests, results, estimates, savings, polling backoff."""

from __future__ import annotations

__all__ = [
    "Backoff",
    "BatchEstimate",
    "BatchFailed",
    "BatchRequest",
    "BatchResult",
    "BatchSavings",
    "BatchTimeout",
]

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from llmfinops.exceptions import ConfigurationError, LLMFinOpsError
from llmfinops.records import CallRecord
from llmfinops.usage import Usage


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One request of a batch: the keyword arguments of the synchronous call, and its id.

    ``params`` is what you would pass to ``client.chat.completions.create`` (OpenAI; or
    ``responses.create`` / ``embeddings.create`` with ``endpoint=``), ``client.messages.create``
    (Anthropic) or ``client.models.generate_content`` (Google: ``contents``, ``config``,
    optionally ``model``).

    Example:
        >>> BatchRequest({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        ...              custom_id="ticket-42").custom_id
        'ticket-42'
    """

    params: Mapping[str, Any]
    custom_id: str | None = None


@dataclass(slots=True)
class BatchResult:
    """The outcome of one request of a finished batch.

    Attributes:
        custom_id: The id given at submission (Google: the request's ``metadata.key``).
        status: ``succeeded``, ``errored``, ``canceled`` or ``expired``.
        response: The SDK's own object (``ChatCompletion``, ``Message``,
            ``GenerateContentResponse``...) for succeeded requests.
        error: The provider's error (a dict or message) otherwise.
        usage: Normalized usage of a succeeded request.
        cost_usd: What it cost at batch prices (``None`` when unpriced).
        standard_cost_usd: The same usage at standard (synchronous) prices.
        record: The :class:`~llmfinops.CallRecord` written for it (succeeded requests only).

    Example:
        >>> r = BatchResult(custom_id="ticket-1", status="errored", error={"message": "bad input"})
        >>> r.ok
        False
    """

    custom_id: str
    status: str
    response: Any = None
    error: Any = None
    usage: Usage | None = None
    cost_usd: Decimal | None = None
    standard_cost_usd: Decimal | None = None
    record: CallRecord | None = None

    @property
    def ok(self) -> bool:
        """Whether the request succeeded."""
        return self.status == "succeeded"


@dataclass(frozen=True, slots=True)
class BatchSavings:
    """Actual batch cost of a finished batch versus the same usage at synchronous prices.

    Example:
        >>> s = BatchSavings(results=2, priced=2, batch_cost_usd=Decimal("0.5"),
        ...                  standard_cost_usd=Decimal("1.0"))
        >>> s.saved_usd, s.saved_fraction
        (Decimal('0.5'), Decimal('0.5'))
    """

    results: int
    """Succeeded requests."""
    priced: int
    """Succeeded requests whose cost is known (the sums cover only these)."""
    batch_cost_usd: Decimal
    standard_cost_usd: Decimal
    unpriced_models: tuple[str, ...] = ()

    @property
    def saved_usd(self) -> Decimal:
        """``standard_cost_usd - batch_cost_usd``."""
        return self.standard_cost_usd - self.batch_cost_usd

    @property
    def saved_fraction(self) -> Decimal | None:
        """Saving as a fraction of the standard cost (``None`` when that is 0)."""
        if not self.standard_cost_usd:
            return None
        return self.saved_usd / self.standard_cost_usd


@dataclass(frozen=True, slots=True)
class BatchEstimate:
    """A pre-submission estimate: prompt tokens counted offline, output at each request's cap.

    Example:
        >>> e = BatchEstimate(requests=1, input_tokens=100, max_output_tokens=50,
        ...                   batch_cost_usd_min=Decimal("0.1"), batch_cost_usd_max=Decimal("0.2"),
        ...                   standard_cost_usd_max=Decimal("0.4"))
        >>> e.saving_usd_max
        Decimal('0.2')
    """

    requests: int
    input_tokens: int
    """Estimated prompt tokens of all requests (see :mod:`llmfinops.tokens`)."""
    max_output_tokens: int | None
    """Sum of the output caps (``None``: some request has no cap, so there is no upper bound)."""
    batch_cost_usd_min: Decimal | None
    """Input tokens only, at batch prices (a lower bound)."""
    batch_cost_usd_max: Decimal | None
    """Input plus every output cap, at batch prices (an upper bound)."""
    standard_cost_usd_max: Decimal | None
    """The same upper bound at synchronous prices."""
    unpriced_models: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def saving_usd_max(self) -> Decimal | None:
        """Upper-bound saving versus synchronous calls."""
        if self.batch_cost_usd_max is None or self.standard_cost_usd_max is None:
            return None
        return self.standard_cost_usd_max - self.batch_cost_usd_max


class BatchTimeout(LLMFinOpsError, TimeoutError):
    """``BatchJob.wait(timeout=...)`` ran out before the batch ended (the batch keeps running).

    Attributes:
        batch_id: Resume it later with ``llmfinops.batch.resume(client, batch_id)``.
        status: The provider's last reported status.

    Example:
        >>> import httpx2, llmfinops.batch
        >>> from llmfinops.testing import FakeClock
        >>> from llmfinops.testing.anthropic import anthropic_client, message_batch
        >>> stuck = anthropic_client(lambda request: httpx2.Response(200, json=message_batch(ended=False)))
        >>> job = llmfinops.batch.resume(llmfinops.wrap(stuck, sinks=[]), "msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d")
        >>> clock = FakeClock()  # simulated time: the hour passes at once
        >>> try:
        ...     job.wait(timeout=3600, sleep=clock.advance, clock=clock.monotonic)
        ... except BatchTimeout as exc:
        ...     print("resume tomorrow:", exc.batch_id, exc.status)
        resume tomorrow: msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d in_progress
    """

    def __init__(self, batch_id: str, status: str, waited: float) -> None:
        self.batch_id = batch_id
        self.status = status
        super().__init__(
            f"batch {batch_id!r} is still {status!r} after {waited:.0f}s; it keeps running on the provider. "
            f"Resume it later with llmfinops.batch.resume(client, {batch_id!r}).wait()"
        )


class BatchFailed(LLMFinOpsError):
    """The batch ended without any result to read (validation failure, expiry, cancellation).

    Attributes:
        batch_id: The batch.
        status: The provider's final status.
        errors: The provider's error messages.

    Example:
        >>> str(BatchFailed("batch_1", "failed", ["missing model"]))
        "batch 'batch_1' ended as 'failed' with no results: missing model"
    """

    def __init__(self, batch_id: str, status: str, errors: list[str]) -> None:
        self.batch_id = batch_id
        self.status = status
        self.errors = errors
        detail = "; ".join(errors[:5]) or "the provider gave no reason"
        super().__init__(f"batch {batch_id!r} ended as {status!r} with no results: {detail}")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential polling delays: ``initial``, then times ``factor``, capped at ``max`` seconds.

    Args:
        initial: First delay in seconds.
        factor: Growth per poll (>= 1).
        max: Largest delay.
        jitter: Random spread as a fraction of each delay (0 = deterministic).

    Raises:
        ConfigurationError: A non-positive delay, ``factor < 1`` or ``jitter`` outside [0, 1).

    Example:
        >>> d = Backoff(initial=10, factor=2, max=60).delays()
        >>> [next(d) for _ in range(5)]
        [10.0, 20.0, 40.0, 60.0, 60.0]
    """

    initial: float = 15.0
    factor: float = 2.0
    max: float = 300.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.max <= 0:
            raise ConfigurationError(
                f"Backoff(initial={self.initial}, max={self.max}): delays must be positive seconds"
            )
        if self.factor < 1:
            raise ConfigurationError(
                f"Backoff(factor={self.factor}) must be >= 1 (1 polls at a fixed interval)"
            )
        if not 0 <= self.jitter < 1:
            raise ConfigurationError(f"Backoff(jitter={self.jitter}) must be in [0, 1)")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Yield delays forever."""
        d = float(self.initial)
        r = rng or random.Random()
        while True:
            cur = min(d, float(self.max))
            if self.jitter:
                cur *= 1 + self.jitter * (2 * r.random() - 1)
            yield cur
            d = min(d * self.factor, float(self.max))
