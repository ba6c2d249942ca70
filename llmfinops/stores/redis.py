"""``RedisStore``: budget counters shared by every process on every machine that reaches one Redis.

Each operation is one server-side Lua script, so a reservation across org, team and user
counters is checked and held atomically however many workers race for the last dollar.
A counter is a hash (``s`` = spent, ``s<slot>`` = rolling-window slots, ``h<deadline>`` =
holds of calls in flight) with a TTL of the rest of its window plus a margin: keys expire
on their own, and holds of crashed callers stop counting at their deadline.

Amounts are integers (nano-USD for money) added with ``HINCRBY``, exact to 64 bits. The
limit comparison runs on Lua doubles: exact up to 2**53 nano-USD (about $9 million per
counter and window), off by a few nano-dollars beyond that.

Keys start with ``prefix`` (default ``"{llmfinops}:"``); the braces are a Redis Cluster
hash tag, so every key of a reservation lives in one slot and the scripts run on Cluster.

Example:
    >>> from llmfinops.stores.redis import RedisStore
    >>> store = RedisStore("redis://localhost:6379/0")  # doctest: +SKIP
    >>> from llmfinops.budgets import configure_budgets
    >>> configure_budgets(store=store)  # doctest: +SKIP
"""

from __future__ import annotations

__all__ = ["RedisStore"]

from collections.abc import Sequence
from typing import Any

from llmfinops.exceptions import MissingDependencyError

from ._logic import ROLLING_SLOTS, hold_deadline
from ._types import Line, Refusal, Reservation

# Shared by the scripts: the live (spent, held) of one counter hash, pruning dead fields.
_LIVE = """
local function live(key, now, rolling)
  local flat = redis.call('HGETALL', key)
  local spent, held = 0, 0
  local size = 0
  if rolling > 0 then size = math.max(math.floor(rolling / SLOTS), 1) end
  local dead = {}
  for j = 1, #flat, 2 do
    local f = flat[j]
    local c = string.sub(f, 1, 1)
    if c == 'h' then
      if tonumber(string.sub(f, 2)) > now then
        held = held + tonumber(flat[j + 1])
      else
        dead[#dead + 1] = f
      end
    elseif f == 's' then
      if rolling == 0 then spent = spent + tonumber(flat[j + 1]) end
    elseif c == 's' and rolling > 0 then
      if (tonumber(string.sub(f, 2)) + 1) * size > now - rolling then
        spent = spent + tonumber(flat[j + 1])
      else
        dead[#dead + 1] = f
      end
    end
  end
  if #dead > 0 then redis.call('HDEL', key, unpack(dead)) end
  return spent, held
end
""".replace("SLOTS", str(ROLLING_SLOTS))

# KEYS: counters. ARGV: now, deadline, then per key: amount, limit (-1: none), ttl, rolling.
_RESERVE = (
    _LIVE
    + """
local now = tonumber(ARGV[1])
local hf = 'h' .. ARGV[2]
local totals = {}
for i = 1, #KEYS do
  local b = 2 + (i - 1) * 4
  local amount = tonumber(ARGV[b + 1])
  local limit = tonumber(ARGV[b + 2])
  local spent, held = live(KEYS[i], now, tonumber(ARGV[b + 4]))
  if limit >= 0 and spent + held + amount > limit then
    return {0, i, string.format('%.0f', spent), string.format('%.0f', held)}
  end
  totals[i] = spent + held + amount
end
local out = {1}
for i = 1, #KEYS do
  local b = 2 + (i - 1) * 4
  if ARGV[b + 1] ~= '0' then redis.call('HINCRBY', KEYS[i], hf, ARGV[b + 1]) end
  redis.call('EXPIRE', KEYS[i], ARGV[b + 3])
  out[i + 1] = string.format('%.0f', totals[i])
end
return out
"""
)

# KEYS: counters. ARGV: now, deadline, then per key: held amount, actual, ttl, rolling.
_COMMIT = (
    _LIVE
    + """
local now = tonumber(ARGV[1])
local deadline = tonumber(ARGV[2])
local hf = 'h' .. ARGV[2]
local out = {}
for i = 1, #KEYS do
  local b = 2 + (i - 1) * 4
  local k = KEYS[i]
  local rolling = tonumber(ARGV[b + 4])
  if deadline > now and ARGV[b + 1] ~= '0' then
    local left = redis.call('HINCRBY', k, hf, '-' .. ARGV[b + 1])
    if left <= 0 then redis.call('HDEL', k, hf) end
  end
  if ARGV[b + 2] ~= '0' then
    local sf = 's'
    if rolling > 0 then
      local size = math.max(math.floor(rolling / SLOTS), 1)
      sf = 's' .. string.format('%.0f', math.floor(now / size))
    end
    redis.call('HINCRBY', k, sf, ARGV[b + 2])
  end
  redis.call('EXPIRE', k, ARGV[b + 3])
  local spent = live(k, now, rolling)
  out[i] = string.format('%.0f', spent)
end
return out
""".replace("SLOTS", str(ROLLING_SLOTS))
)

# KEYS: counter. ARGV: now, rolling.
_USAGE = (
    _LIVE
    + """
local spent, held = live(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
return {string.format('%.0f', spent), string.format('%.0f', held)}
"""
)

# KEYS: alert marker. ARGV: now, ttl.
_ALERT = """
local v = redis.call('GET', KEYS[1])
if v and tonumber(v) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[2] + 3600)
return 1
"""


def _num(v: Any) -> int:
    return int(v.decode() if isinstance(v, bytes) else v)


class RedisStore:
    """Budget counters in Redis, updated by atomic Lua scripts.

    Args:
        url: ``redis://host:port/db`` (``rediss://`` for TLS). Ignored when ``client`` is given.
        client: A ready ``redis.Redis`` client (any ``decode_responses`` setting).
        prefix: Prefix of every key (default ``"{llmfinops}:"``, a Cluster hash tag).
        socket_timeout: Seconds before a Redis operation gives up (URL clients only). A
            budget whose store does not answer follows ``on_store_error``: it must not hang calls.

    Raises:
        MissingDependencyError: When the ``redis`` package is not installed.

    Example:
        >>> store = RedisStore("redis://127.0.0.1:6379/0", prefix="{myapp}:")  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str = "{llmfinops}:",
        socket_timeout: float = 1.0,
    ) -> None:
        try:
            import redis
        except ImportError as exc:
            raise MissingDependencyError(
                'RedisStore needs the redis package: pip install "llmfinops[redis]"'
            ) from exc
        self._owns_client = client is None
        if client is None:
            client = redis.Redis.from_url(
                url or "redis://localhost:6379/0",
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
            )
        self.client = client
        self.prefix = prefix
        self._reserve = client.register_script(_RESERVE)
        self._commit = client.register_script(_COMMIT)
        self._usage = client.register_script(_USAGE)
        self._alert = client.register_script(_ALERT)

    def reserve(self, lines: Sequence[Line], *, now: float, hold: float) -> Reservation | Refusal:
        """See :meth:`~llmfinops.stores.BudgetStore.reserve`."""
        deadline = hold_deadline(now, hold)
        p = self.prefix
        args: list[Any] = [repr(float(now)), deadline]
        for line in lines:
            args += (
                line.amount,
                -1 if line.limit is None else line.limit,
                max(int(line.ttl), 1),
                line.rolling,
            )
        res = self._reserve(keys=[p + line.counter for line in lines], args=args)
        if _num(res[0]) == 0:
            return Refusal(index=_num(res[1]) - 1, spent=_num(res[2]), reserved=_num(res[3]))
        return Reservation(lines=tuple(lines), deadline=deadline, totals=tuple(_num(v) for v in res[1:]))

    def commit(self, reservation: Reservation, actual: Sequence[int], *, now: float) -> tuple[int, ...]:
        """See :meth:`~llmfinops.stores.BudgetStore.commit`."""
        p = self.prefix
        lines = reservation.lines
        args: list[Any] = [repr(float(now)), reservation.deadline]
        for line, amount in zip(lines, actual, strict=True):
            args += (line.amount, int(amount), max(int(line.ttl), 1), line.rolling)
        res = self._commit(keys=[p + line.counter for line in lines], args=args)
        return tuple(_num(v) for v in res)

    def release(self, reservation: Reservation, *, now: float) -> None:
        """See :meth:`~llmfinops.stores.BudgetStore.release`."""
        if reservation.deadline > now:
            self.commit(reservation, [0] * len(reservation.lines), now=now)

    def usage(self, counter: str, *, now: float, rolling: int = 0) -> tuple[int, int]:
        """See :meth:`~llmfinops.stores.BudgetStore.usage`."""
        res = self._usage(keys=[self.prefix + counter], args=[repr(float(now)), rolling])
        return _num(res[0]), _num(res[1])

    def mark_alert(self, name: str, *, now: float, ttl: int) -> bool:
        """See :meth:`~llmfinops.stores.BudgetStore.mark_alert`."""
        until = repr(float(now) + ttl)
        return bool(
            _num(self._alert(keys=[self.prefix + "alert|" + name], args=[now, max(int(ttl), 1), until]))
        )

    def close(self) -> None:
        """Close the connections of a client this store created (a client you passed in stays open)."""
        if self._owns_client:
            self.client.close()

    def __repr__(self) -> str:
        kwargs = getattr(getattr(self.client, "connection_pool", None), "connection_kwargs", {})
        where = f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"
        return f"RedisStore({where!r}, prefix={self.prefix!r})"
