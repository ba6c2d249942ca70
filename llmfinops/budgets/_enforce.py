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

The counters a call reserves on are planned in ``_planner.py``; alerts fire from ``_notify.py``.
"""

from __future__ import annotations

__all__ = ["abort_call", "after_call", "before_call", "forward_user_id", "install", "reset_state"]

import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from llmfinops._config import get_config
from llmfinops._internal import handle_internal_errors, warn_once
from llmfinops._recorder import GLOBAL_BEFORE_CALL, GLOBAL_CALL_ABORTED
from llmfinops.exceptions import BudgetExceeded, ConfigurationError, CostUnknownWarning, PriceNotFound
from llmfinops.stores import BudgetStore, Refusal, Reservation

from ._alerts import BudgetAlert
from ._counters import RUN_STORE, from_units
from ._errors import BudgetUnavailable
from ._estimate import Estimate, estimate_call, output_cap_field, to_nano
from ._notify import _alert, _emit, _marks, _store_failed, _thresholds
from ._planner import _blame, _Hold, _lines, _Plan, _plan, _plans, _Refused, _Target, _targets
from ._scopes import current_scopes
from ._settings import BudgetSettings, get_budget_settings, get_store
from ._userid import forward_user_id

if TYPE_CHECKING:
    from llmfinops._recorder import CallState
    from llmfinops.records import CallRecord

    from ._breaker import Breaker

_SCRATCH = "llmfinops.budgets"
_MAX_DEGRADE = 4
_install_lock = threading.Lock()
_installed = False


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
