"""The before/after-call hooks that enforce budgets on every wrapped call.

Before a call (caller's thread, nothing sent yet):

1. runaway breakers count the call and may refuse it;
2. the worst-case cost is estimated (``_estimate.py``);
3. one line per (budget key, window, unit) is reserved atomically — per-call limits are
   checked in place, ``run`` budgets in this process, the rest in the store — all or
   nothing; a refusal degrades the request to a cheaper model and tries again, or raises
   :class:`~llmfinops.BudgetExceeded`.

After the call (the record is finished): the hold is replaced by the actual cost, token
count and call count of the record; thresholds crossed by this call fire alerts.
"""

from __future__ import annotations

__all__ = ["abort_call", "after_call", "before_call", "forward_user_id", "install", "reset_state"]

import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from llmfinops._config import get_config
from llmfinops._internal import handle_internal_errors, logger, warn_once
from llmfinops._recorder import GLOBAL_BEFORE_CALL, GLOBAL_CALL_ABORTED
from llmfinops.exceptions import (
    BudgetExceeded,
    ConfigurationError,
    CostUnknownWarning,
    LLMFinOpsWarning,
    PriceNotFound,
)
from llmfinops.stores import BudgetStore, Line, Refusal, Reservation

from ._alerts import AlertKind, BudgetAlert, dispatch
from ._budget import (
    RUN_STORE,
    Budget,
    CallContext,
    counter_name,
    current_scopes,
    from_units,
    hash_user,
    ttl_for,
)
from ._errors import BudgetStoreWarning, BudgetUnavailable
from ._estimate import Estimate, estimate_call, output_cap_field, to_nano
from ._settings import BudgetSettings, get_budget_settings, get_store
from ._window import Span

if TYPE_CHECKING:
    from llmfinops._recorder import CallState
    from llmfinops.records import CallRecord

    from ._breaker import Breaker

_SCRATCH = "llmfinops.budgets"
_INF = float("inf")
_MARGIN = 3600
_RUN_TTL = 86_400
_MAX_DEGRADE = 4
_install_lock = threading.Lock()
_installed = False
_marks: dict[str, float] = {}
"""Alerts already fired (marker -> until, epoch seconds): skips a store round trip per refused call."""


# -- plan -------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Target:
    budget: Budget
    key: str
    span: Span


@dataclass(slots=True)
class _Member:
    target: _Target
    unit: str
    limit: int
    enforcing: bool


@dataclass(frozen=True, slots=True)
class _Slot:
    """One counter of a plan: every member (budget x unit) that counts on it."""

    counter: str
    unit: str
    limit: int | None
    rolling: int
    end: float
    members: tuple[_Member, ...]

    def ttl(self, now: float, hold: float) -> int:
        margin = int(hold) + _MARGIN
        if self.rolling:
            return self.rolling + margin
        if self.end == _INF:
            return _RUN_TTL
        return max(int(self.end - now), 0) + margin


_Plan = tuple[tuple[_Member, ...], tuple[_Slot, ...], tuple[_Slot, ...]]
"""Per-call checks, run-store slots, main-store slots."""
_plans: dict[tuple[Any, ...], _Plan] = {}


@dataclass(slots=True)
class _Refused:
    member: _Member
    spent: int
    reserved: int
    amount: int


@dataclass(slots=True)
class _Hold:
    estimate: Estimate | None
    store: BudgetStore
    main: tuple[_Slot, ...]
    main_res: Reservation | None
    run: tuple[_Slot, ...]
    run_res: Reservation | None
    breakers: list[tuple[Breaker, str]]
    hold: float


# -- installation -----------------------------------------------------------------------------
def install() -> None:
    """Add the budget hooks to every wrapped client (idempotent; done by the first Budget)."""
    global _installed
    if _installed:
        return
    with _install_lock:
        if not _installed:
            GLOBAL_BEFORE_CALL.append(before_call)
            # after_call is registered per call (CallState.on_record) by the calls that hold
            # something: records of calls outside every budget stay off the call path.
            # A hook running after ours may still refuse the call: release our hold then.
            GLOBAL_CALL_ABORTED.append(abort_call)
            _installed = True


def abort_call(state: CallState, error: BaseException | None = None) -> None:
    """Hook: the call was refused after our reservation (by a later hook): release the hold."""
    hold = state.scratch.pop(_SCRATCH, None)
    if isinstance(hold, _Hold):
        _release(hold)


def reset_state() -> None:
    """Forget process-local state (fired-alert cache, run counters)."""
    _marks.clear()
    _plans.clear()
    RUN_STORE.close()


# -- helpers ----------------------------------------------------------------------------------
def _emit(settings: BudgetSettings, alert: BudgetAlert) -> None:
    dispatch(alert, settings.alert_sinks)


def _first_time(store: BudgetStore, marker: str, now: float, ttl: int) -> bool:
    until = _marks.get(marker)
    if until is not None and until > now:
        return False
    try:
        first = store.mark_alert(marker, now=now, ttl=ttl)
    except Exception as exc:
        _store_failed(exc, "mark_alert")
        first = True
    if len(_marks) > 50_000:
        _marks.clear()
    _marks[marker] = now + ttl
    return first


def _store_failed(exc: BaseException, op: str) -> None:
    logger.warning("llmfinops: budget store %s failed: %s: %s", op, type(exc).__name__, exc)
    warn_once(
        BudgetStoreWarning,
        f"budget-store:{op}:{type(exc).__name__}",
        f"llmfinops: the budget store failed during {op} ({type(exc).__name__}: {exc}); calls go ahead "
        "unmetered while it is down (on_store_error='open'). Use configure_budgets(on_store_error='closed') "
        "to refuse them instead.",
    )


def forward_user_id(state: CallState) -> None:
    """Put the keyed hash of the ``user_id`` tag in the provider's end-user field (opt-in)."""
    raw = state.tag_snapshot.get("user_id")
    body = state.body
    if not raw or body is None:
        return
    cfg = get_config()
    if cfg.user_id_key is None and not _env_key():
        warn_once(
            LLMFinOpsWarning,
            "forward-user-id-nokey",
            "llmfinops: forward_user_id is on but no user-id key is set, so no user id is sent to the "
            "provider; set configure(user_id_key=...) or $LLMFINOPS_USER_ID_KEY",
        )
        return
    provider = state.runtime.provider
    hashed = hash_user(raw, always=True)
    if provider == "anthropic" and state.endpoint == "messages":
        md = body.get("metadata")
        if md is None:
            body["metadata"] = {"user_id": hashed}
        elif isinstance(md, dict) and "user_id" not in md:
            body["metadata"] = {**md, "user_id": hashed}  # a copy: never mutate the caller's dict
    elif provider == "openai" and state.endpoint in ("chat.completions", "responses"):
        body.setdefault("safety_identifier", hashed)


def _env_key() -> bool:
    import os

    return bool(os.environ.get("LLMFINOPS_USER_ID_KEY"))


# -- before the call --------------------------------------------------------------------------
def before_call(state: CallState) -> None:
    """Hook: forward the user id, check breakers, reserve every enclosing budget (or refuse)."""
    settings = get_budget_settings()
    if settings.forward_user_id:
        with handle_internal_errors("budgets.forward_user_id"):
            forward_user_id(state)
    scopes = current_scopes()
    if not scopes and not settings.budgets and settings.breaker is None:
        return
    try:
        _enforce(state, settings, scopes)
    except (BudgetExceeded, PriceNotFound, ConfigurationError):
        raise
    except Exception:
        hold = state.scratch.pop(_SCRATCH, None)
        if isinstance(hold, _Hold):
            _release(hold)
        with handle_internal_errors("budgets.before_call"):
            raise


def _targets(state: CallState, settings: BudgetSettings, scopes: tuple[Any, ...]) -> list[_Target]:
    ctx = CallContext(
        tags=state.tag_snapshot,
        provider=state.runtime.provider,
        model=state.model,
        endpoint=state.endpoint,
        operation=state.operation,
    )
    out: list[_Target] = []
    seen: set[tuple[int, str]] = set()
    pairs = [(b, None) for b in settings.budgets] + [(a.budget, a.run) for a in scopes]
    for b, run in pairs:
        kind = b.window.kind
        if kind == "run":
            key, span = f"run:{run}", Span("run", float("-inf"), float("inf"))
        elif kind == "call":
            key, span = b.name, Span("call", float("-inf"), float("inf"))
        else:
            k = b.resolve_key(ctx)
            if k is None:
                continue
            key, span = k, b.window.span(state.timestamp, settings.timezone)
        marker = (id(b), key)
        if marker in seen:
            continue
        seen.add(marker)
        out.append(_Target(b, key, span))
    return out


def _check_breakers(
    state: CallState, settings: BudgetSettings, targets: list[_Target]
) -> list[tuple[Breaker, str]]:
    pairs: list[tuple[Breaker, str]] = []
    if settings.breaker is not None:
        pairs.append((settings.breaker, "global"))
    pairs.extend((t.budget.breaker, t.key) for t in targets if t.budget.breaker is not None)
    if not pairs:
        return pairs
    cfg = get_config()
    mono = cfg.clock.monotonic()
    for brk, key in pairs:
        trip = brk.before_call(key, mono)
        if trip is not None:
            err = brk.error(f"breaker:{key}", trip)
            if trip.opened:
                _emit(
                    settings,
                    BudgetAlert(
                        kind="breaker_open",
                        key=f"breaker:{key}",
                        window="1m",
                        unit="rate",
                        limit=trip.limit,
                        spent=trip.rate,
                        at=cfg.clock.now(),
                        detail=str(err),
                    ),
                )
            raise err
    return pairs


def _plan(targets: list[_Target]) -> _Plan:
    """Split targets into per-call checks, run-store and main-store slots (merged by counter); cached."""
    signature = tuple((t.budget, t.key, t.span.id) for t in targets)
    plan = _plans.get(signature)
    if plan is not None:
        return plan
    calls: list[_Member] = []
    run: dict[str, list[_Member]] = {}
    main: dict[str, list[_Member]] = {}
    spans: dict[str, Span] = {}
    for t in targets:
        b = t.budget
        enforcing = b.on_exceed != "warn"
        for unit, limit in b.limits.items():
            member = _Member(t, unit, limit, enforcing)
            kind = b.window.kind
            if kind == "call":
                calls.append(member)
                continue
            if kind == "run":
                counter, into = counter_name(t.key, "run", unit), run
            else:
                counter, into = counter_name(t.key, t.span.id, unit), main
            into.setdefault(counter, []).append(member)
            spans[counter] = t.span

    def slots(groups: dict[str, list[_Member]]) -> tuple[_Slot, ...]:
        out = []
        for counter, members in groups.items():
            limits = [m.limit for m in members if m.enforcing]
            span = spans[counter]
            out.append(
                _Slot(
                    counter=counter,
                    unit=members[0].unit,
                    limit=min(limits) if limits else None,
                    rolling=span.rolling,
                    end=span.end,
                    members=tuple(members),
                )
            )
        return tuple(out)

    plan = (tuple(calls), slots(run), slots(main))
    if len(_plans) > 4096:
        _plans.clear()
    _plans[signature] = plan
    return plan


def _blame(slot: _Slot, refusal: Refusal, amount: int) -> _Refused:
    enforcing = [m for m in slot.members if m.enforcing]
    member = min(enforcing, key=lambda m: m.limit) if enforcing else slot.members[0]
    return _Refused(member, refusal.spent, refusal.reserved, amount)


def _enforce(state: CallState, settings: BudgetSettings, scopes: tuple[Any, ...]) -> None:
    targets = _targets(state, settings, scopes)
    if not targets and settings.breaker is None:
        return
    breakers = _check_breakers(state, settings, targets)
    if not targets:
        if breakers:
            state.scratch[_SCRATCH] = _Hold(None, get_store(), (), None, (), None, breakers, 0.0)
            state.on_record(after_call)
        return
    cfg = get_config()
    now = state.timestamp.timestamp()
    hold = settings.reservation_ttl
    need_usd = any(t.budget.usd is not None for t in targets)
    need_est = need_usd or any(t.budget.tokens is not None for t in targets)
    table = state.runtime.table(cfg)
    provider = state.runtime.provider
    original = state.model
    tried = {original}
    store = get_store()
    for _ in range(_MAX_DEGRADE + 1):
        est: Estimate | None = None
        usd = 0
        if need_est:
            est = estimate_call(
                table=table,
                provider=provider,
                model=state.model,
                endpoint=state.endpoint,
                operation=state.operation,
                body=state.body,
                request_max_tokens=state.request_max_tokens,
                at=state.timestamp,
                default_max_output=settings.default_max_output_tokens,
            )
            if need_usd:
                if est.usd_nano is None:
                    if settings.unpriced == "refuse":
                        raise PriceNotFound(
                            provider,
                            state.model,
                            "a USD budget is in force and configure_budgets(unpriced='refuse') refuses "
                            "calls it cannot price",
                        )
                    warn_once(
                        CostUnknownWarning,
                        f"budget-unpriced:{provider}:{state.model}",
                        f"llmfinops: {provider} model {state.model!r} has no price, so USD budgets cannot "
                        "hold its cost (its calls and tokens still count); add a price with "
                        "configure(price_overrides=...) or configure_budgets(unpriced='refuse')",
                    )
                else:
                    usd = est.usd_nano
        amounts = {"usd": usd, "tokens": est.tokens if est is not None else 0, "calls": 1}
        refused = _reserve(state, settings, store, _plan(targets), amounts, est, breakers, now, hold)
        if refused is None:
            if state.model != original:
                state.extra_fields["degraded_from"] = original
            _cap_output(state, settings, est)
            return
        member = refused.member
        b = member.target.budget
        target = b.degrade_target(state.model) if b.on_exceed == "degrade" else None
        if target is not None and target not in tried:
            if table.lookup(provider, target) is None:
                warn_once(
                    CostUnknownWarning,
                    f"budget-degrade:{provider}:{target}",
                    f"llmfinops: budget {b.name!r} cannot degrade to {target!r}: no {provider} price for it; "
                    "the call is refused instead. Fix degrade_to= or add the model's price.",
                )
            else:
                _alert(settings, store, "degraded", refused, now, detail=f"{state.model} -> {target}")
                tried.add(target)
                state.model = target
                if state.body is not None:
                    state.body["model"] = target
                continue
        _alert(settings, store, "refused", refused, now)
        t = member.target
        raise BudgetExceeded(
            key=t.key,
            window=t.span.id,
            limit=from_units(member.unit, member.limit),
            spent=from_units(member.unit, refused.spent),
            reserved=from_units(member.unit, refused.reserved),
            estimate=from_units(member.unit, refused.amount),
            unit=member.unit,
        )
    raise BudgetExceeded(  # pragma: no cover - degrade chains are bounded by `tried`
        key=targets[0].key,
        window=targets[0].span.id,
        limit=Decimal(0),
        spent=Decimal(0),
        reserved=Decimal(0),
        estimate=Decimal(0),
    )


def _cap_output(state: CallState, settings: BudgetSettings, est: Estimate | None) -> None:
    if not settings.cap_output or est is None or state.request_max_tokens is not None or state.body is None:
        return
    fld = output_cap_field(state.runtime.provider, state.endpoint)
    if fld and fld not in state.body and est.max_output_tokens > 0:
        state.body[fld] = est.max_output_tokens
        state.request_max_tokens = est.max_output_tokens


def _reserve(
    state: CallState,
    settings: BudgetSettings,
    store: BudgetStore,
    plan: _Plan,
    amounts: dict[str, int],
    est: Estimate | None,
    breakers: list[tuple[Breaker, str]],
    now: float,
    hold: float,
) -> _Refused | None:
    """Reserve everything or nothing; on success store the hold in ``state.scratch``."""
    calls, run, main = plan
    for member in calls:
        amount = amounts[member.unit]
        if member.enforcing and amount > member.limit:
            return _Refused(member, 0, 0, amount)
    run_res: Reservation | None = None
    if run:
        r = RUN_STORE.reserve(_lines(run, amounts, now, hold), now=now, hold=hold)
        if isinstance(r, Refusal):
            return _blame(run[r.index], r, amounts[run[r.index].unit])
        run_res = r
    main_res: Reservation | None = None
    if main:
        lines = _lines(main, amounts, now, hold)
        try:
            m = store.reserve(lines, now=now, hold=hold)
        except Exception as exc:
            if settings.on_store_error == "closed":
                if run_res is not None:
                    RUN_STORE.release(run_res, now=now)
                t = main[0].members[0].target
                raise BudgetUnavailable(key=t.key, window=t.span.id, error=exc) from exc
            _store_failed(exc, "reserve")
            m = Reservation.unheld(lines)
        if isinstance(m, Refusal):
            if run_res is not None:
                RUN_STORE.release(run_res, now=now)
            return _blame(main[m.index], m, amounts[main[m.index].unit])
        main_res = m
    state.scratch[_SCRATCH] = _Hold(est, store, main, main_res, run, run_res, breakers, hold)
    state.on_record(after_call)
    return None


def _lines(slots: tuple[_Slot, ...], amounts: dict[str, int], now: float, hold: float) -> list[Line]:
    return [Line(s.counter, amounts[s.unit], s.limit, s.ttl(now, hold), s.rolling) for s in slots]


def _alert(
    settings: BudgetSettings,
    store: BudgetStore,
    kind: AlertKind,
    refused: _Refused,
    now: float,
    detail: str = "",
) -> None:
    try:
        m = refused.member
        t = m.target
        marker = f"{counter_name(t.key, t.span.id, m.unit)}|{kind}|{m.limit}"
        ttl = ttl_for(t.budget.window, t.span, now, settings.reservation_ttl)
        if t.budget.window.kind == "call":
            ttl = 3600  # a per-call limit has no window: remind at most hourly
        if not _first_time(RUN_STORE if not t.budget.window.stored else store, marker, now, ttl):
            return
        _emit(
            settings,
            BudgetAlert(
                kind=kind,
                key=t.key,
                window=t.span.id,
                unit=m.unit,
                limit=from_units(m.unit, m.limit),
                spent=from_units(m.unit, refused.spent),
                reserved=from_units(m.unit, refused.reserved),
                threshold=100.0,
                budget=t.budget.name,
                at=get_config().clock.now(),
                detail=detail,
            ),
        )
    except Exception:
        with handle_internal_errors("budgets.alert"):
            raise


def _release(hold: _Hold) -> None:
    now = get_config().clock.now().timestamp()
    with handle_internal_errors("budgets.release"):
        if hold.run_res is not None:
            RUN_STORE.release(hold.run_res, now=now)
        if hold.main_res is not None and hold.main_res.deadline:
            hold.store.release(hold.main_res, now=now)


# -- after the call ---------------------------------------------------------------------------
def after_call(state: CallState, record: CallRecord) -> None:
    """Hook: replace the hold by the actual usage; fire threshold alerts; feed the breakers."""
    hold = state.scratch.pop(_SCRATCH, None)
    if not isinstance(hold, _Hold):
        return
    with handle_internal_errors("budgets.after_call"):
        _reconcile(hold, record)


def _actuals(hold: _Hold, record: CallRecord) -> dict[str, int]:
    if record.cache_hit:  # served by llmfinops' response cache: no provider call, nothing billed
        return {"usd": 0, "tokens": 0, "calls": 0}
    est = hold.estimate
    usd = 0
    tokens = record.total_tokens
    if record.cost_usd is not None and record.cost_usd > 0:
        usd = to_nano(record.cost_usd)
    if est is not None and (record.partial or (record.cost_usd is None and record.status == "ok")):
        # Sent, but the usage is unknown (no usage block) or only a lower bound (a stream closed
        # early: the provider bills what it generated, not what we saw): keep the worst case.
        usd = max(usd, est.usd_nano or 0)
        tokens = max(tokens, est.tokens)
    return {"usd": usd, "tokens": tokens, "calls": 1}


def _reconcile(hold: _Hold, record: CallRecord) -> None:
    cfg = get_config()
    settings = get_budget_settings()
    actual = _actuals(hold, record)
    if hold.breakers:
        mono = cfg.clock.monotonic()
        for brk, key in hold.breakers:
            trip = brk.after_call(key, mono, actual["usd"])
            if trip is not None:
                _emit(
                    settings,
                    BudgetAlert(
                        kind="breaker_open",
                        key=f"breaker:{key}",
                        window="1m",
                        unit="rate",
                        limit=trip.limit,
                        spent=trip.rate,
                        at=cfg.clock.now(),
                        detail=f"{trip.rate} USD in the last minute > "
                        f"{brk.multiplier:g} x {trip.baseline} USD/min",
                    ),
                )
    now = cfg.clock.now().timestamp()
    fired: list[str] = []
    if hold.run_res is not None:
        amounts = [actual[a.unit] for a in hold.run]
        spent = RUN_STORE.commit(hold.run_res, amounts, now=now)
        _thresholds(settings, RUN_STORE, hold.run, amounts, spent, now, hold.hold, fired)
    if hold.main_res is not None:
        amounts = [actual[a.unit] for a in hold.main]
        try:
            spent = hold.store.commit(hold.main_res, amounts, now=now)
        except Exception as exc:
            _store_failed(exc, "commit")
        else:
            _thresholds(settings, hold.store, hold.main, amounts, spent, now, hold.hold, fired)
    if fired:
        text = "; ".join(fired)
        record.budget_alert = text  # after-call hooks run before the record is dispatched


def _thresholds(
    settings: BudgetSettings,
    store: BudgetStore,
    accs: tuple[_Slot, ...],
    amounts: list[int],
    spent: tuple[int, ...],
    now: float,
    hold: float,
    fired: list[str],
) -> None:
    for acc, amount, new in zip(accs, amounts, spent, strict=True):
        if not amount:
            continue
        old = new - amount
        for m in acc.members:
            limit = m.limit
            b = m.target.budget
            # A run is one task: its thresholds are noise unless the budget asks for them.
            thresholds = b.thresholds
            if thresholds is None and b.window.kind != "run":
                thresholds = settings.thresholds
            for pct in thresholds or ():
                level = limit * pct  # compare in hundredths to stay in integers
                if old * 100 < level <= new * 100:
                    marker = f"{acc.counter}|{pct:g}%|{limit}"
                    if not _first_time(store, marker, now, acc.ttl(now, hold)):
                        continue
                    t = m.target
                    alert = BudgetAlert(
                        kind="threshold",
                        key=t.key,
                        window=t.span.id,
                        unit=m.unit,
                        limit=from_units(m.unit, limit),
                        spent=from_units(m.unit, new),
                        threshold=pct,
                        budget=t.budget.name,
                        at=get_config().clock.now(),
                    )
                    fired.append(f"{t.key} {t.span.id} {m.unit} {pct:g}%")
                    _emit(settings, alert)
