"""The Anthropic SDK's Messages stream event classes, by the ``type`` they carry (used by ``anthropic.py``).

Read once at import: which classes the stream observer acts on (``_KIND_BY_CLASS``) and which it
never needs, so that the stream wrapper skips them by class without a call (``_SKIP_FIRST``, and
``_SKIP_REST`` once the first content delta has given the time to first token).
"""

from __future__ import annotations

__all__ = ["_KIND_BY_CLASS", "_SKIP_FIRST", "_SKIP_REST", "_event_classes"]


def _event_classes() -> tuple[dict[type, str], frozenset[type], frozenset[type]]:
    """The SDK's Messages stream event classes (plain and beta), by the ``type`` they carry.

    Returns the kind of each class the observer acts on, the classes it never needs (block
    start/stop, ``message_stop``) and those plus the content deltas (needed until the first one,
    for the time to first token). A class is used only if its ``type`` field is the one literal
    expected; an SDK without them leaves every event to be read by its ``type``.
    """
    import typing

    try:
        from anthropic.types import (
            RawContentBlockDeltaEvent,
            RawContentBlockStartEvent,
            RawContentBlockStopEvent,
            RawMessageDeltaEvent,
            RawMessageStartEvent,
            RawMessageStopEvent,
        )
        from anthropic.types.beta import (
            BetaRawContentBlockDeltaEvent,
            BetaRawContentBlockStartEvent,
            BetaRawContentBlockStopEvent,
            BetaRawMessageDeltaEvent,
            BetaRawMessageStartEvent,
            BetaRawMessageStopEvent,
        )
    except ImportError:  # an SDK without these classes: every event is read by its ``type``
        return {}, frozenset(), frozenset()

    expected: dict[type, str] = {
        RawMessageStartEvent: "message_start",
        BetaRawMessageStartEvent: "message_start",
        RawMessageDeltaEvent: "message_delta",
        BetaRawMessageDeltaEvent: "message_delta",
        RawContentBlockDeltaEvent: "content_block_delta",
        BetaRawContentBlockDeltaEvent: "content_block_delta",
        RawContentBlockStartEvent: "content_block_start",
        BetaRawContentBlockStartEvent: "content_block_start",
        RawContentBlockStopEvent: "content_block_stop",
        BetaRawContentBlockStopEvent: "content_block_stop",
        RawMessageStopEvent: "message_stop",
        BetaRawMessageStopEvent: "message_stop",
    }
    kinds: dict[type, str] = {}
    for cls, kind in expected.items():
        try:
            literal = typing.get_args(cls.model_fields["type"].annotation)  # type: ignore[attr-defined]
        except Exception:  # an SDK model of another shape: its events are read one by one
            continue
        if literal == (kind,):
            kinds[cls] = kind
    acted = {"message_start", "message_delta", "content_block_delta"}
    skip = frozenset(c for c, k in kinds.items() if k not in acted)
    deltas = frozenset(c for c, k in kinds.items() if k == "content_block_delta")
    return {c: k for c, k in kinds.items() if k in acted}, skip, skip | deltas


_KIND_BY_CLASS, _SKIP_FIRST, _SKIP_REST = _event_classes()
