"""The normalized call table that every report reads, and the report dimensions.

JSONL lines and SQLite rows are read by field name into the same typed columns
(``NORMALIZED_COLUMNS``): missing fields become NULL or 0, unknown fields are ignored,
money becomes ``DECIMAL(38, 20)`` parsed from the JSON text (never through a float sum),
and timestamps become naive UTC ``TIMESTAMP``.
"""

from __future__ import annotations

__all__ = [
    "COST_FIELDS",
    "DIMENSIONS",
    "NORMALIZED_COLUMNS",
    "RAW_JSON_COLUMNS",
    "SCHEMA_VERSION",
    "TIME_DIMENSIONS",
    "dimension_sql",
    "normalize_select",
    "parse_dimensions",
]

import re
from collections.abc import Iterable, Sequence

from llmfinops.exceptions import ConfigurationError

SCHEMA_VERSION = 1
"""Bumped whenever ``NORMALIZED_COLUMNS`` change, which invalidates Parquet caches."""

DEC = "DECIMAL(38, 20)"

COST_FIELDS = (
    "cost_usd",
    "input_cost_usd",
    "cached_input_cost_usd",
    "cache_write_cost_usd",
    "output_cost_usd",
    "cache_storage_cost_usd",
    "infra_cost_usd",
    "saved_usd",
)
_INT_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "retry_count",
)
_TEXT_FIELDS = (
    "id",
    "provider",
    "operation",
    "endpoint",
    "model",
    "response_model",
    "price_model",
    "error_type",
    "service_tier",
    "service",
    "user_id",
    "team",
    "feature",
    "environment",
    "cascade_id",
    "degraded_from",
    "price_version",
)
_BOOL_FIELDS = ("stream", "partial", "cache_hit")

RAW_JSON_COLUMNS: dict[str, str] = {
    **dict.fromkeys(_TEXT_FIELDS, "VARCHAR"),
    "timestamp": "VARCHAR",
    **dict.fromkeys(_INT_FIELDS, "VARCHAR"),
    **dict.fromkeys(COST_FIELDS, "VARCHAR"),
    "latency_ms": "VARCHAR",
    "http_requests": "VARCHAR",
    "status": "VARCHAR",
    **dict.fromkeys(_BOOL_FIELDS, "VARCHAR"),
    "tags": "VARCHAR",
    "cascade_outcome": "VARCHAR",
}
"""What ``read_json`` is asked for: every field as text, converted by :func:`normalize_select`."""

NORMALIZED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "VARCHAR"),
    ("ts", "TIMESTAMP"),
    ("provider", "VARCHAR"),
    ("operation", "VARCHAR"),
    ("endpoint", "VARCHAR"),
    ("model", "VARCHAR"),
    ("response_model", "VARCHAR"),
    ("price_model", "VARCHAR"),
    ("input_tokens", "BIGINT"),
    ("cached_input_tokens", "BIGINT"),
    ("cache_write_tokens", "BIGINT"),
    ("output_tokens", "BIGINT"),
    ("reasoning_tokens", "BIGINT"),
    *((f, DEC) for f in COST_FIELDS),
    ("latency_ms", "DOUBLE"),
    ("retry_count", "BIGINT"),
    ("http_requests", "BIGINT"),
    ("status", "VARCHAR"),
    ("error_type", "VARCHAR"),
    ("stream", "BOOLEAN"),
    ("partial", "BOOLEAN"),
    ("service_tier", "VARCHAR"),
    ("service", "VARCHAR"),
    ("user_id", "VARCHAR"),
    ("team", "VARCHAR"),
    ("feature", "VARCHAR"),
    ("environment", "VARCHAR"),
    ("tags", "VARCHAR"),
    ("cache_hit", "BOOLEAN"),
    ("cascade_id", "VARCHAR"),
    ("cascade_outcome", "VARCHAR"),
    ("degraded_from", "VARCHAR"),
    ("price_version", "VARCHAR"),
)


def normalize_select(source: str, *, present: Iterable[str] | None = None) -> str:
    """SQL that turns a relation of raw text fields into :data:`NORMALIZED_COLUMNS`.

    Args:
        source: A FROM-able SQL fragment (``read_json(...)``).
        present: Raw field names that exist in ``source``; others are read as NULL
            (SQLite tables may lack newer columns). ``None`` means all of ``RAW_JSON_COLUMNS``.
    """
    have = set(RAW_JSON_COLUMNS) if present is None else set(present)

    def col(name: str) -> str:
        return f'"{name}"' if name in have else "CAST(NULL AS VARCHAR)"

    parts: list[str] = []
    for name, typ in NORMALIZED_COLUMNS:
        if name == "ts":
            raw = col("timestamp")
            expr = (
                f"CAST(COALESCE(TRY_CAST({raw} AS TIMESTAMPTZ), "
                f"to_timestamp(TRY_CAST({raw} AS DOUBLE))) AS TIMESTAMP)"
            )
        elif name in _INT_FIELDS:
            c = col(name)
            expr = f"COALESCE(TRY_CAST({c} AS BIGINT), TRY_CAST(TRY_CAST({c} AS DOUBLE) AS BIGINT), 0)"
        elif name == "http_requests":
            expr = f"COALESCE(TRY_CAST(TRY_CAST({col(name)} AS DOUBLE) AS BIGINT), 1)"
        elif typ == DEC:
            expr = f"TRY_CAST({col(name)} AS {DEC})"
        elif name == "latency_ms":
            expr = f"COALESCE(TRY_CAST({col(name)} AS DOUBLE), 0)"
        elif typ == "BOOLEAN":
            expr = f"COALESCE(TRY_CAST({col(name)} AS BOOLEAN), false)"
        elif name == "status":
            expr = f"COALESCE(NULLIF({col(name)}, ''), 'ok')"
        elif name == "tags":
            expr = f"CASE WHEN json_valid({col('tags')}) THEN {col('tags')} ELSE NULL END"
        elif name == "cascade_outcome":
            tags = col("tags")
            expr = (
                f"COALESCE({col(name)}, CASE WHEN json_valid({tags}) "
                f"THEN json_extract_string({tags}, '$.cascade_outcome') END)"
            )
        elif name == "service_tier":
            expr = f"lower({col(name)})"
        else:
            expr = col(name)
        parts.append(f"{expr} AS {name}")
    # A torn last line (killed writer) parses as an all-NULL row: drop it, and any line without a time.
    return f"SELECT {', '.join(parts)} FROM {source} WHERE ts IS NOT NULL"


TIME_DIMENSIONS: dict[str, str] = {
    "hour": "date_trunc('hour', ts)",
    "day": "CAST(ts AS DATE)",
    "week": "CAST(date_trunc('week', ts) AS DATE)",
    "month": "CAST(date_trunc('month', ts) AS DATE)",
}
"""Time grains (UTC). Weeks start on Monday (ISO)."""

DIMENSIONS: dict[str, str] = {
    "model": "model",
    "price_model": "price_model",
    "response_model": "response_model",
    "provider": "provider",
    "feature": "feature",
    "team": "team",
    "user": "user_id",
    "environment": "environment",
    "service": "service",
    "operation": "operation",
    "endpoint": "endpoint",
    "status": "status",
    "tier": "service_tier",
    "error_type": "error_type",
    **TIME_DIMENSIONS,
}
"""Dimension name -> SQL expression over the normalized table. ``tag:<key>`` is also accepted."""

_TAG_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_ALIASES = {"user_id": "user", "env": "environment", "service_tier": "tier", "date": "day"}


def dimension_sql(name: str) -> str:
    """The SQL expression of one dimension (``team``, ``day``, ``tag:region``...).

    Raises:
        ConfigurationError: The name is not a known dimension.

    Example:
        >>> dimension_sql("user")
        'user_id'
    """
    name = _ALIASES.get(name, name)
    if name.startswith("tag:"):
        key = name[4:]
        if not _TAG_KEY.match(key):
            raise ConfigurationError(
                f"dimension {name!r}: tag keys may contain letters, digits, '_', '.' and '-' only "
                "(e.g. tag:region)"
            )
        return f"json_extract_string(tags, '$.\"{key}\"')"
    try:
        return DIMENSIONS[name]
    except KeyError:
        known = ", ".join([*DIMENSIONS, "tag:<key>"])
        raise ConfigurationError(f"unknown dimension {name!r}; use one of: {known}") from None


def parse_dimensions(by: str | Sequence[str] | None) -> tuple[str, ...]:
    """Normalize ``"team,model"`` or ``["team", "model"]`` into a validated tuple.

    Example:
        >>> parse_dimensions("team, day")
        ('team', 'day')
    """
    if by is None:
        return ()
    items = by.split(",") if isinstance(by, str) else list(by)
    out: list[str] = []
    for item in items:
        name = _ALIASES.get(item.strip(), item.strip())
        if not name:
            continue
        dimension_sql(name)
        if name in out:
            raise ConfigurationError(f"dimension {name!r} is listed twice in by={by!r}")
        out.append(name)
    return tuple(out)
