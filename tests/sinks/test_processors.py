"""llmfinops.processors: redaction, truncation, user-id hashing, static fields, dropping."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from typing import Any

import pytest

import llmfinops
from llmfinops.exceptions import ConfigurationError
from llmfinops.processors import (
    CONTENT_FIELDS,
    DropRecord,
    add_static,
    drop_if,
    hash_user_id,
    luhn_valid,
    redact_text,
    truncate_content,
)
from llmfinops.records import CallRecord
from llmfinops.sinks import MemorySink
from llmfinops.sinks._writer import DropRecord as WriterDropRecord
from llmfinops.testing import capture_records
from llmfinops.testing.openai import OpenAIMock, openai_client

from .conftest import rec


@dataclasses.dataclass(slots=True, kw_only=True)
class ContentRecord(CallRecord):
    """A record as it will look with content capture on (prompt/completion text)."""

    prompt: Any = None
    completion: str | None = None


def content(i: int = 1, **kw: Any) -> ContentRecord:
    return ContentRecord(**{**dataclasses.asdict(rec(i)), **kw})


class TestRedact:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("write to jane.doe+billing@example.co.uk today", "write to [REDACTED_EMAIL] today"),
            ("key=sk-proj-AbCdEf0123456789_-xyzXYZ", "key=[REDACTED_API_KEY]"),
            ("key sk-ant-api03-AbCdEf0123456789abcdef-XYZ ok", "key [REDACTED_API_KEY] ok"),
            ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "[REDACTED_API_KEY]"),
            ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "token [REDACTED_API_KEY]"),
            ("aws AKIAIOSFODNN7EXAMPLE.", "aws [REDACTED_API_KEY]."),
            ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abcdefghij", "Authorization: [REDACTED_API_KEY]"),
            ("card 4111 1111 1111 1111 exp", "card [REDACTED_CARD] exp"),
            ("card 5500-0000-0000-0004.", "card [REDACTED_CARD]."),
            ("amex 378282246310005", "amex [REDACTED_CARD]"),
            ("call +1 (415) 555-0100 now", "call [REDACTED_PHONE] now"),
            ("call +44 20 7946 0958", "call [REDACTED_PHONE]"),
            ("call (555) 123-4567", "call [REDACTED_PHONE]"),
            ("call 555-123-4567 or 555.123.4567", "call [REDACTED_PHONE] or [REDACTED_PHONE]"),
            ("call +33612345678", "call [REDACTED_PHONE]"),
        ],
    )
    def test_masks_each_kind(self, text: str, expected: str) -> None:
        """Emails, provider/cloud keys, Luhn-valid cards and phone numbers are masked."""
        assert redact_text().redact(text) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "order 4111 1111 1111 1112 shipped",  # fails Luhn
            "invoice 1234567890123",  # fails Luhn
            "on 2026-11-22 at 10:30",
            "version 1.2.3, port 8080, 42 tokens, 1200 input",
            "ip 192.168.1.100",
            "the sk-short key",
            "price $2.50 per 1M tokens",
        ],
    )
    def test_leaves_ordinary_text_alone(self, text: str) -> None:
        """Dates, versions, order numbers that fail Luhn and short tokens are not masked."""
        assert redact_text().redact(text) == text

    def test_kinds_extra_patterns_and_replacement(self) -> None:
        """Only the chosen kinds are masked; extra patterns and the template are honoured."""
        r = redact_text(kinds=["email"], extra_patterns={"ticket": r"TCK-\d+"}, replacement="<{kind}>")
        assert r.redact("a@b.io TCK-123 +1 415 555 0100") == "<EMAIL> <TICKET> +1 415 555 0100"

    def test_record_without_content_fields_is_unchanged(self) -> None:
        """Today's records have no content fields: the processor is a no-op returning the same object."""
        r = rec(1)
        assert redact_text()(r) is r

    def test_content_fields_and_nested_messages(self) -> None:
        """Prompt/completion text is masked, including strings inside message lists."""
        r = content(
            prompt=[{"role": "user", "content": "I am bob@example.com, card 4111111111111111"}],
            completion="Sure, I'll email bob@example.com",
        )
        out = redact_text()(r)
        assert out.prompt == [{"role": "user", "content": "I am [REDACTED_EMAIL], card [REDACTED_CARD]"}]  # type: ignore[attr-defined]
        assert out.completion == "Sure, I'll email [REDACTED_EMAIL]"  # type: ignore[attr-defined]
        assert r.completion == "Sure, I'll email bob@example.com"  # the input record is not mutated

    def test_tag_values(self) -> None:
        """Tag values are masked by default, and left alone with tags=False."""
        r = rec(1, tags={"customer": "ceo@bigco.com", "tier": "gold"})
        assert redact_text()(r).tags == {"customer": "[REDACTED_EMAIL]", "tier": "gold"}
        assert redact_text(tags=False)(r) is r

    def test_bad_configuration(self) -> None:
        """Unknown kinds and invalid patterns are configuration errors."""
        with pytest.raises(ConfigurationError, match=r"unknown \['ssn'\]"):
            redact_text(kinds=["ssn"])
        with pytest.raises(ConfigurationError, match=r"extra_patterns\['x'\]: invalid regex"):
            redact_text(extra_patterns={"x": "("})

    def test_luhn(self) -> None:
        """The Luhn check accepts real test card numbers and rejects near misses."""
        assert [luhn_valid(n) for n in ("4242424242424242", "4242424242424241", "0", "79927398713")] == [
            True, False, False, True,
        ]  # fmt: skip


class TestTruncate:
    def test_cuts_long_content(self) -> None:
        """Text past max_chars is cut and marked with the number of characters removed."""
        out = truncate_content(10)(content(prompt="x" * 25, completion="short"))
        assert (out.prompt, out.completion) == ("x" * 10 + "…[truncated 15 chars]", "short")  # type: ignore[attr-defined]

    def test_no_content_fields_is_a_no_op(self) -> None:
        """Without content fields the record passes through untouched."""
        r = rec(1)
        assert truncate_content(10)(r) is r
        assert CONTENT_FIELDS == ("prompt", "completion")

    def test_negative_cap(self) -> None:
        """A negative cap is a configuration error."""
        with pytest.raises(ConfigurationError, match="max_chars=-1 must be an integer >= 0"):
            truncate_content(-1)


class TestHashUserId:
    def test_matches_the_recorders_keyed_hash(self) -> None:
        """Hashing raw ids in a processor gives the same pseudonym the recorder gives by default."""
        client = llmfinops.wrap(openai_client(OpenAIMock()))
        with capture_records() as hashed, llmfinops.tags(user_id="alice@example.com"):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        llmfinops.configure(user_id_mode="raw")
        with capture_records() as raw, llmfinops.tags(user_id="alice@example.com"):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        assert raw[0].user_id == "alice@example.com"
        assert hash_user_id("test-key")(raw[0]).user_id == hashed[0].user_id
        expected = "u_" + hmac.new(b"test-key", b"alice@example.com", hashlib.sha256).hexdigest()[:20]
        assert hashed[0].user_id == expected

    def test_none_and_options(self) -> None:
        """A record without a user id is returned as is; prefix and length are honoured."""
        r = rec(1)
        assert hash_user_id("k")(r) is r
        out = hash_user_id(b"k", prefix="user:", length=8)(rec(1, user_id="bob"))
        assert out.user_id == "user:" + hmac.new(b"k", b"bob", hashlib.sha256).hexdigest()[:8]

    def test_empty_key(self) -> None:
        """An empty key is refused."""
        with pytest.raises(ConfigurationError, match="hash_user_id key is empty"):
            hash_user_id("")


class TestStaticAndDrop:
    def test_add_static_sets_fields_and_tags(self) -> None:
        """Record fields are set; other names become tags next to the existing ones."""
        out = add_static(environment="prod", service="api", region="eu-west-1")(rec(1, tags={"a": "b"}))
        assert (out.environment, out.service, out.tags) == ("prod", "api", {"a": "b", "region": "eu-west-1"})

    def test_add_static_refuses_per_call_fields(self) -> None:
        """ids, timestamps and the tags dict cannot be set statically."""
        with pytest.raises(ConfigurationError, match=r"\['id', 'timestamp'\] cannot be set statically"):
            add_static(id="x", timestamp="y")
        with pytest.raises(ConfigurationError, match="needs at least one field"):
            add_static()

    def test_drop_if(self) -> None:
        """drop_if raises DropRecord for matching records (the writer's own DropRecord)."""
        drop = drop_if(lambda r: r.environment == "test")
        assert drop(rec(1, environment="prod")).environment == "prod"
        with pytest.raises(DropRecord):
            drop(rec(1, environment="test"))
        assert DropRecord is WriterDropRecord

    def test_pipeline_through_configure(self) -> None:
        """Processors configured globally shape what the sinks receive, off the call path."""
        sink = MemorySink()
        llmfinops.configure(
            sinks=[sink],
            user_id_mode="raw",
            processors=[
                drop_if(lambda r: r.feature == "healthcheck"),
                hash_user_id("secret"),
                add_static(region="eu"),
                redact_text(),
            ],
        )
        client = llmfinops.wrap(openai_client(OpenAIMock()))
        for feature in ("ask", "healthcheck"):
            with llmfinops.tags(feature=feature, user_id="carol", ticket="mail carol@x.io"):
                client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        llmfinops.flush()
        (out,) = sink.records
        expected_uid = "u_" + hmac.new(b"secret", b"carol", hashlib.sha256).hexdigest()[:20]
        assert (out.feature, out.user_id, out.tags) == (
            "ask", expected_uid, {"ticket": "mail [REDACTED_EMAIL]", "region": "eu"},
        )  # fmt: skip
        writer = llmfinops.get_config().writer()
        assert (writer.written, writer.dropped_by_processors) == (1, 1)
