"""``RedisStore``: budget counters shared by every process on every machine that reaches one Redis.

Each operation is one server-side Lua script, so a reservation across org, team and user
counters is checked and held atomically however many workers race for the last dollar.
A counter is a hash (``s`` = spent, ``s<slot>`` = rolling-window slots, ``h<deadline>`` =
holds of calls in flight) with a TTL of the rest of its window plus a margin: keys expire
on their own, and holds of crashed callers stop counting at their deadline.

Amounts are integers (nano-USD for money) added with ``HINCRBY``, exact to 64 bits. The
limit comparison runs on Lua doubles: exact up to 2**53 nano-USD (about $9 million per
counter and window), off by a few nano-dollars beyond that.

Each operation is one ``EVALSHA`` round trip (``SCRIPT LOAD`` again only after a server
restart or ``SCRIPT FLUSH``). A store built from a URL (``redis://``, ``rediss://`` or
``unix://``) sends on a small connection pool of its own, skipping redis-py's per-command
machinery; an operation that may have reached the server is never retried.

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

import hashlib
import os
import threading
import time
import weakref
from collections import deque
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
  local spent
  if rolling > 0 then
    if ARGV[b + 2] ~= '0' then
      local size = math.max(math.floor(rolling / SLOTS), 1)
      redis.call('HINCRBY', k, 's' .. string.format('%.0f', math.floor(now / size)), ARGV[b + 2])
    end
    spent = live(k, now, rolling)
  elseif ARGV[b + 2] ~= '0' then
    spent = redis.call('HINCRBY', k, 's', ARGV[b + 2])
  else
    spent = tonumber(redis.call('HGET', k, 's') or '0')
  end
  redis.call('EXPIRE', k, ARGV[b + 3])
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


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()  # Redis names scripts by SHA-1


_SCRIPTS = (_RESERVE, _COMMIT, _USAGE, _ALERT)
_RESERVE_SHA, _COMMIT_SHA, _USAGE_SHA, _ALERT_SHA = map(_sha, _SCRIPTS)

_IDLE_CHECK = 1.0
"""A pooled connection idle for longer than this many seconds is checked for a server-side close
(one non-blocking peek) before it is used; a busy store never pays for the check."""

_stores: weakref.WeakSet[RedisStore] = weakref.WeakSet()


def _after_fork() -> None:
    # A forked child must not talk on its parent's sockets: drop them (the parent keeps its own).
    for store in list(_stores):
        store._forget_connections()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class RedisStore:
    """Budget counters in Redis, updated by atomic Lua scripts.

    One store operation is one ``EVALSHA`` round trip. When the store builds its own client
    (from ``url``) it sends through a small private connection pool of its own (one connection
    per concurrent caller, checked out with a lock-free pop), skipping redis-py's per-command
    machinery; a ``client`` you pass is used as it is (its pool, retry policy, Cluster...).

    An operation that fails once its command may have reached the server (timeout, connection
    reset) is **not** retried, so a reservation or a charge is never applied twice; the error
    goes to the budget's ``on_store_error`` policy. A connection that sat idle is checked for a
    server-side close before use, and a script missing from the server (restart,
    ``SCRIPT FLUSH``) is loaded again and re-run, both safe because nothing ran.

    Args:
        url: ``redis://host:port/db`` (``rediss://`` for TLS, ``unix:///path/redis.sock?db=0``
            for a unix domain socket, the fastest on one machine). Ignored when ``client`` is given.
        client: A ready ``redis.Redis`` client (any ``decode_responses`` setting).
        prefix: Prefix of every key (default ``"{llmfinops}:"``, a Cluster hash tag).
        socket_timeout: Seconds before a Redis operation gives up (URL clients only). A
            budget whose store does not answer follows ``on_store_error``: it must not hang calls.

    Raises:
        MissingDependencyError: When the ``redis`` package is not installed.

    Example:
        >>> store = RedisStore("redis://127.0.0.1:6379/0", prefix="{myapp}:")  # doctest: +SKIP
        >>> store = RedisStore("unix:///run/redis/redis.sock?db=0")  # doctest: +SKIP
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
        self._scripts = {_sha(t): t for t in _SCRIPTS}
        self._no_script: type[Exception] = redis.exceptions.NoScriptError
        self._dead: tuple[type[BaseException], ...] = (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            OSError,
        )
        # Our own pool only for a plain client we built (same connection class and settings).
        pool = getattr(client, "connection_pool", None)
        self._pool_kwargs: dict[str, Any] | None = None
        if self._owns_client and type(pool) is redis.ConnectionPool and getattr(pool, "cache", None) is None:
            self._connection_class: Any = pool.connection_class
            self._pool_kwargs = dict(pool.connection_kwargs)
        self._pack: Any = None
        if self._pool_kwargs is not None and self._pool_kwargs.get("encoding", "utf-8") == "utf-8":
            try:
                from hiredis import pack_command

                self._pack = pack_command
            except ImportError:  # pragma: no cover - redis-py's own packer then
                pass
        self._free: deque[tuple[Any, float]] = deque()
        self._made: list[Any] = []
        self._made_lock = threading.Lock()
        _stores.add(self)

    # -- transport ---------------------------------------------------------------------------------
    def _eval(self, sha: str, keys: list[str], args: list[Any]) -> Any:
        """``EVALSHA sha`` with ``keys`` and ``args``: one round trip (plus ``SCRIPT LOAD`` once)."""
        if self._pool_kwargs is None:
            try:
                return self.client.evalsha(sha, len(keys), *keys, *args)
            except self._no_script:
                self.client.script_load(self._scripts[sha])
                return self.client.evalsha(sha, len(keys), *keys, *args)
        try:
            conn, used = self._free.pop()
        except IndexError:
            conn, used = self._connect(), 0.0
        try:
            if time.monotonic() - used > _IDLE_CHECK:
                self._check(conn)
            cmd = ("EVALSHA", sha, len(keys), *keys, *args)
            packed = (self._pack(cmd),) if self._pack is not None else conn.pack_command(*cmd)
            conn.send_packed_command(packed, check_health=False)
            try:
                res = conn.read_response()
            except self._no_script:
                conn.send_command("SCRIPT", "LOAD", self._scripts[sha], check_health=False)
                conn.read_response()
                conn.send_packed_command(packed, check_health=False)
                res = conn.read_response()
        except BaseException:
            # redis-py already dropped the socket when it failed mid-command (not for a script
            # error, after which the connection is in sync); it reconnects on its next use.
            self._free.append((conn, 0.0))
            raise
        self._free.append((conn, time.monotonic()))
        return res

    def _connect(self) -> Any:
        conn = self._connection_class(**self._pool_kwargs)  # type: ignore[arg-type]
        with self._made_lock:
            self._made.append(conn)
        return conn

    def _check(self, conn: Any) -> None:
        """Drop the socket of an idle connection the server closed (or that has stray data)."""
        if getattr(conn, "_sock", None) is None:
            return
        try:
            stale = conn.can_read()
        except self._dead:
            stale = True
        if stale:
            conn.disconnect()

    def _forget_connections(self) -> None:
        self._free = deque()
        with self._made_lock:
            self._made = []

    # -- the store protocol ------------------------------------------------------------------------
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
        res = self._eval(_RESERVE_SHA, [p + line.counter for line in lines], args)
        if int(res[0]) == 0:
            return Refusal(index=int(res[1]) - 1, spent=int(res[2]), reserved=int(res[3]))
        return Reservation(lines=tuple(lines), deadline=deadline, totals=tuple(map(int, res[1:])))

    def commit(self, reservation: Reservation, actual: Sequence[int], *, now: float) -> tuple[int, ...]:
        """See :meth:`~llmfinops.stores.BudgetStore.commit`."""
        p = self.prefix
        lines = reservation.lines
        args: list[Any] = [repr(float(now)), reservation.deadline]
        for line, amount in zip(lines, actual, strict=True):
            args += (line.amount, int(amount), max(int(line.ttl), 1), line.rolling)
        res = self._eval(_COMMIT_SHA, [p + line.counter for line in lines], args)
        return tuple(map(int, res))

    def release(self, reservation: Reservation, *, now: float) -> None:
        """See :meth:`~llmfinops.stores.BudgetStore.release`."""
        if reservation.deadline > now:
            self.commit(reservation, [0] * len(reservation.lines), now=now)

    def usage(self, counter: str, *, now: float, rolling: int = 0) -> tuple[int, int]:
        """See :meth:`~llmfinops.stores.BudgetStore.usage`."""
        res = self._eval(_USAGE_SHA, [self.prefix + counter], [repr(float(now)), rolling])
        return int(res[0]), int(res[1])

    def mark_alert(self, name: str, *, now: float, ttl: int) -> bool:
        """See :meth:`~llmfinops.stores.BudgetStore.mark_alert`."""
        until = repr(float(now) + ttl)
        return bool(
            int(self._eval(_ALERT_SHA, [self.prefix + "alert|" + name], [now, max(int(ttl), 1), until]))
        )

    def close(self) -> None:
        """Close the connections of a client this store created (a client you passed in stays open)."""
        with self._made_lock:
            made, self._made = self._made, []
        self._free = deque()
        for conn in made:
            conn.disconnect()
        if self._owns_client:
            self.client.close()

    def __repr__(self) -> str:
        kwargs = getattr(getattr(self.client, "connection_pool", None), "connection_kwargs", {})
        if "path" in kwargs:
            where = f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
        else:
            where = f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"
        return f"RedisStore({where!r}, prefix={self.prefix!r})"
