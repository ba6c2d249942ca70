"""``place_cache_breakpoints``: Anthropic cache_control placement on tricky requests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import llmfinops
from llmfinops.policies import CachePolicy, min_cache_tokens, place_cache_breakpoints
from llmfinops.testing import FakeClock, capture_records
from llmfinops.testing.anthropic import anthropic_client

from .cache_sim import CacheSimulator, block_tokens

MODEL = "claude-sonnet-4-6"
LONG = "Our refund policy covers unused items returned with a receipt. " * 400  # ~4,000 BPE tokens
ANY = CachePolicy(min_tokens=0)  # unit tests of positions: no minimum length
EPH = {"type": "ephemeral"}
EPH_1H = {"type": "ephemeral", "ttl": "1h"}


def tool(name: str, cc: dict[str, str] | None = None) -> dict[str, Any]:
    t: dict[str, Any] = {"name": name, "description": f"{name} tool", "input_schema": {"type": "object"}}
    if cc:
        t["cache_control"] = cc
    return t


def markers(body: dict[str, Any]) -> list[tuple[str, str]]:
    """All (location, ttl) cache_control markers of a body, in prefix order."""
    out = []
    for i, t in enumerate(body.get("tools") or []):
        if "cache_control" in t:
            out.append((f"tools[{i}]", t["cache_control"].get("ttl", "5m")))
    system = body.get("system")
    if isinstance(system, list):
        for i, b in enumerate(system):
            if "cache_control" in b:
                out.append((f"system[{i}]", b["cache_control"].get("ttl", "5m")))
    for mi, m in enumerate(body.get("messages") or []):
        if isinstance(m["content"], list):
            for bi, b in enumerate(m["content"]):
                if "cache_control" in b:
                    assert b["type"] not in ("thinking", "redacted_thinking")
                    out.append((f"messages[{mi}].content[{bi}]", b["cache_control"].get("ttl", "5m")))
    return out


def assert_valid(body: dict[str, Any]) -> None:
    """What the API enforces: <= 4 breakpoints (automatic counted), 1h never after 5m."""
    marks = markers(body)
    assert len(marks) + (1 if body.get("cache_control") else 0) <= 4
    ranks = [2 if ttl == "1h" else 1 for _, ttl in marks]
    assert ranks == sorted(ranks, reverse=True)


def conversation(turns: int) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = []
    for i in range(turns):
        msgs.append({"role": "user", "content": f"question {i}"})
        msgs.append({"role": "assistant", "content": f"answer {i}"})
    msgs.append({"role": "user", "content": "newest question"})
    return msgs


class TestLayers:
    """One breakpoint after the tools, the system prompt and the stable history."""

    def test_system_string_becomes_a_block_list(self) -> None:
        """A string system prompt is sent as one text block carrying cache_control."""
        body = {"model": MODEL, "system": "Be helpful.", "messages": [{"role": "user", "content": "hi"}]}
        new, report = place_cache_breakpoints(body, policy=ANY)
        assert new["system"] == [{"type": "text", "text": "Be helpful.", "cache_control": EPH}]
        assert report.summary() == "cache=auto: +1 breakpoint (system[0] 5m)"
        assert new["messages"] is body["messages"]

    def test_input_is_never_modified(self) -> None:
        """The input body and everything inside it stay as they were (copy-on-write)."""
        body = {
            "model": MODEL,
            "tools": [tool("a"), tool("b")],
            "system": [{"type": "text", "text": "rules"}],
            "messages": conversation(3),
        }
        before = copy.deepcopy(body)
        new, report = place_cache_breakpoints(body, policy=ANY)
        assert body == before
        assert len(report.placed) == 3
        assert new["messages"][-1] is body["messages"][-1]  # untouched parts are shared

    def test_tools_system_and_history(self) -> None:
        """Tools, system and the last message before the newest user turn each get one breakpoint."""
        body = {
            "model": MODEL,
            "tools": [tool("a"), tool("b")],
            "system": "rules",
            "messages": conversation(2),
        }
        new, report = place_cache_breakpoints(body, policy=ANY)
        assert markers(new) == [("tools[1]", "5m"), ("system[0]", "5m"), ("messages[3].content[0]", "5m")]
        assert new["messages"][3] == {
            "role": "assistant",
            "content": [{"type": "text", "text": "answer 1", "cache_control": EPH}],
        }
        assert [b.layer for b in report.placed] == ["tools", "system", "history"]
        assert report.history_end == (3, -1)
        assert_valid(new)

    def test_tools_only(self) -> None:
        """A request with tools and no system caches the tool definitions."""
        body = {"model": MODEL, "tools": [tool("search")], "messages": [{"role": "user", "content": "hi"}]}
        new, _ = place_cache_breakpoints(body, policy=ANY)
        assert markers(new) == [("tools[0]", "5m")]
        assert new["tools"][0] == {**tool("search"), "cache_control": EPH}
        assert body["tools"][0] == tool("search")

    def test_single_user_message_has_no_stable_history(self) -> None:
        """The newest user turn is never cached by the history layer."""
        body = {"model": MODEL, "system": "rules", "messages": [{"role": "user", "content": "hi"}]}
        new, _ = place_cache_breakpoints(body, policy=ANY)
        assert markers(new) == [("system[0]", "5m")]
        assert new["messages"] == [{"role": "user", "content": "hi"}]

    def test_layer_switched_off(self) -> None:
        """A layer whose TTL is None gets no breakpoint, and the report says why."""
        body = {"model": MODEL, "tools": [tool("a")], "system": "rules", "messages": conversation(1)}
        new, report = place_cache_breakpoints(body, policy=CachePolicy(min_tokens=0, tools_ttl=None))
        assert markers(new) == [("system[0]", "5m"), ("messages[1].content[0]", "5m")]
        assert "tools: tools_ttl=None" in report.skipped


class TestContentTypes:
    """Images, tool results and thinking blocks in the history."""

    def test_image_block_can_carry_the_breakpoint(self) -> None:
        """An image as the last block of the stable history carries the breakpoint."""
        image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}
        body = {
            "model": MODEL,
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "what is this?"}, image]},
                {"role": "assistant", "content": "a chart"},
                {"role": "user", "content": "explain it"},
            ],
        }
        new, _ = place_cache_breakpoints(body, policy=CachePolicy(min_tokens=1000))
        # prefix: 4 + "what is this?" + 1600 (image) >= 1000 already at the image; history ends at messages[1]
        assert markers(new) == [("messages[1].content[0]", "5m")]
        assert image == {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"},
        }

    def test_tool_result_turn(self) -> None:
        """In a tool loop the newest user turn is the tool_result; the tool_use before it is cached."""
        tool_use = {"type": "tool_use", "id": "toolu_01", "name": "lookup", "input": {"order": "A-1"}}
        result = {
            "type": "tool_result",
            "tool_use_id": "toolu_01",
            "content": [{"type": "text", "text": "shipped"}],
        }
        body = {
            "model": MODEL,
            "system": "rules",
            "messages": [
                {"role": "user", "content": "where is A-1?"},
                {"role": "assistant", "content": [{"type": "text", "text": "Let me check."}, tool_use]},
                {"role": "user", "content": [result]},
            ],
        }
        new, _ = place_cache_breakpoints(body, policy=ANY)
        assert markers(new) == [("system[0]", "5m"), ("messages[1].content[1]", "5m")]
        assert new["messages"][1]["content"][1] == {**tool_use, "cache_control": EPH}
        assert new["messages"][1]["content"][0] is body["messages"][1]["content"][0]

    def test_tool_result_in_stable_history_carries_the_breakpoint(self) -> None:
        """A tool_result block that ends the stable history is itself a valid breakpoint."""
        result = {"type": "tool_result", "tool_use_id": "toolu_01", "content": "42"}
        body = {
            "model": MODEL,
            "messages": [
                {"role": "user", "content": "compute"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_01", "name": "calc", "input": {}}],
                },
                {"role": "user", "content": [result]},
                {
                    "role": "assistant",
                    "content": [{"type": "thinking", "thinking": "done", "signature": "s"}],
                },
                {"role": "user", "content": "thanks, and 2+2?"},
            ],
        }
        new, _ = place_cache_breakpoints(body, policy=ANY)
        # messages[3] is thinking only: the breakpoint steps back to the tool_result
        assert markers(new) == [("messages[2].content[0]", "5m")]

    def test_thinking_blocks_never_carry_cache_control(self) -> None:
        """An assistant turn [thinking, text] is cached on its text block."""
        thinking = {"type": "thinking", "thinking": "The user wants...", "signature": "EqQBCkYIARgCKkB"}
        body = {
            "model": MODEL,
            "messages": [
                {"role": "user", "content": "plan my trip"},
                {"role": "assistant", "content": [thinking, {"type": "text", "text": "Here is a plan."}]},
                {"role": "user", "content": "shorter please"},
            ],
        }
        new, _ = place_cache_breakpoints(body, policy=ANY)
        assert markers(new) == [("messages[1].content[1]", "5m")]
        assert new["messages"][1]["content"][0] is thinking
        assert "cache_control" not in thinking

    def test_redacted_thinking_is_skipped(self) -> None:
        """A turn ending in redacted_thinking is cached on its last other block."""
        body = {
            "model": MODEL,
            "messages": [
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "ok"},
                        {"type": "redacted_thinking", "data": "EmwKAhgB"},
                    ],
                },
                {"role": "user", "content": "next"},
            ],
        }
        new, _ = place_cache_breakpoints(body, policy=ANY)
        assert markers(new) == [("messages[1].content[0]", "5m")]


class TestCallerBreakpoints:
    """The caller's own breakpoints are kept, counted, and their sections left alone."""

    def test_caller_already_at_four(self) -> None:
        """With 4 breakpoints already, nothing is added and the report says so."""
        body = {
            "model": MODEL,
            "tools": [tool("a", EPH)],
            "system": [{"type": "text", "text": "x", "cache_control": EPH}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "q1", "cache_control": EPH}]},
                {"role": "assistant", "content": [{"type": "text", "text": "a1", "cache_control": EPH}]},
                {"role": "user", "content": "q2"},
            ],
        }
        new, report = place_cache_breakpoints(body, policy=ANY)
        assert new == body
        assert report.placed == ()
        assert report.existing == 4
        assert report.summary() == (
            "cache=auto: no breakpoint placed (history: the caller placed its own breakpoint there); "
            "4 of the caller's kept"
        )

    def test_budget_counts_the_callers(self) -> None:
        """Three caller breakpoints leave one slot: the history (the longest prefix) gets it."""
        body = {
            "model": MODEL,
            "tools": [tool("a", EPH), tool("b", EPH), tool("c", EPH)],
            "system": "rules",
            "messages": conversation(1),
        }
        new, report = place_cache_breakpoints(body, policy=ANY)
        assert markers(new) == [
            ("tools[0]", "5m"),
            ("tools[1]", "5m"),
            ("tools[2]", "5m"),
            ("messages[1].content[0]", "5m"),
        ]
        assert "system: no breakpoint left (4 max, 3 used by the caller)" in report.skipped
        assert_valid(new)

    def test_caller_system_breakpoint_is_respected(self) -> None:
        """A caller's breakpoint on system[0] of two blocks means system[1] varies: it stays uncached."""
        body = {
            "model": MODEL,
            "system": [
                {"type": "text", "text": "static rules", "cache_control": EPH},
                {"type": "text", "text": "user profile: gold tier"},
            ],
            "messages": conversation(1),
        }
        new, report = place_cache_breakpoints(body, policy=ANY)
        assert markers(new) == [("system[0]", "5m"), ("messages[1].content[0]", "5m")]
        assert "system: the caller placed its own breakpoint there" in report.skipped

    def test_automatic_caching_counts_as_one(self) -> None:
        """Top-level cache_control (automatic caching) takes a slot and covers the history."""
        body = {
            "model": MODEL,
            "cache_control": EPH,
            "tools": [tool("a")],
            "system": "rules",
            "messages": conversation(2),
        }
        new, report = place_cache_breakpoints(body, policy=ANY)
        assert markers(new) == [("tools[0]", "5m"), ("system[0]", "5m")]
        assert report.automatic
        assert report.existing == 1
        assert "history: top-level cache_control (automatic caching) covers it" in report.skipped
        assert new["cache_control"] == EPH
        assert report.history_end == (4, -1)

    def test_automatic_caching_plus_three_callers_leaves_no_slot(self) -> None:
        """Three explicit breakpoints plus automatic caching is the full budget of 4."""
        body = {
            "model": MODEL,
            "cache_control": EPH,
            "tools": [tool("a", EPH), tool("b", EPH), tool("c", EPH)],
            "system": "rules",
            "messages": conversation(1),
        }
        new, report = place_cache_breakpoints(body, policy=ANY)
        assert new == body
        assert report.existing == 4


class TestMinimumLength:
    """No breakpoint on a prefix below the model's minimum cacheable length."""

    def test_short_prompt_gets_no_breakpoint(self) -> None:
        """A 3-token system prompt is below Sonnet 4.6's 2,048 minimum: nothing is placed."""
        body = {"model": MODEL, "system": "Be helpful.", "messages": conversation(1)}
        new, report = place_cache_breakpoints(body)
        assert new == body
        assert report.placed == ()
        assert report.min_tokens == 2048
        assert report.skipped[0].startswith("history: prefix ~")
        assert report.skipped[0].endswith("tokens < minimum 2048 for 'claude-sonnet-4-6'")

    def test_short_system_long_history(self) -> None:
        """A short system prompt is skipped while the long history after it is cached."""
        msgs = [
            {"role": "user", "content": LONG},
            {"role": "assistant", "content": "noted"},
            {"role": "user", "content": "summarize"},
        ]
        body = {"model": MODEL, "system": "Be helpful.", "messages": msgs}
        new, report = place_cache_breakpoints(body)
        assert markers(new) == [("messages[1].content[0]", "5m")]
        assert any(s.startswith("system: prefix ~") for s in report.skipped)

    def test_long_system_prompt(self) -> None:
        """A ~4,000-token system prompt is above the minimum and cached (its head proves it)."""
        body = {"model": MODEL, "system": LONG, "messages": [{"role": "user", "content": "hi"}]}
        new, report = place_cache_breakpoints(body)
        assert markers(new) == [("system[0]", "5m")]
        # only the head of the text was needed to cross the minimum: the exact size is not reported
        assert report.placed[0].prefix_tokens is None

    def test_minimum_per_model(self) -> None:
        """The minimum comes from the price table, with a documented default for unknown models."""
        assert min_cache_tokens("claude-haiku-4-5") == 4096
        assert min_cache_tokens("claude-sonnet-4-5-20250929") == 1024
        assert min_cache_tokens("claude-fable-5-1") == 512
        assert min_cache_tokens("claude-new-model-9") == 1024

    def test_haiku_needs_more(self) -> None:
        """The same ~4,000-token prompt is below Haiku 4.5's 4,096 minimum (estimates carry a 1.2 margin)."""
        body = {
            "model": "claude-haiku-4-5",
            "system": LONG[: len(LONG) // 2],
            "messages": [{"role": "user", "content": "hi"}],
        }
        new, report = place_cache_breakpoints(body)
        assert markers(new) == []
        assert "minimum 4096" in report.skipped[0]


class TestTTLs:
    """Layered TTLs: 1h breakpoints always before 5m ones."""

    def test_layered_policy(self) -> None:
        """tools+system 1h, history 5m."""
        body = {"model": MODEL, "tools": [tool("a")], "system": "rules", "messages": conversation(1)}
        pol = CachePolicy(tools_ttl="1h", system_ttl="1h", history_ttl="5m", min_tokens=0)
        new, report = place_cache_breakpoints(body, policy=pol)
        assert markers(new) == [("tools[0]", "1h"), ("system[0]", "1h"), ("messages[1].content[0]", "5m")]
        assert new["system"][0]["cache_control"] == EPH_1H
        assert (
            report.summary()
            == "cache=auto: +3 breakpoints (tools[0] 1h, system[0] 1h, messages[1].content[0] 5m)"
        )

    def test_earlier_layer_raised_to_a_later_1h(self) -> None:
        """system_ttl="1h" with the default 5m tools: the tools breakpoint is raised to 1h."""
        body = {"model": MODEL, "tools": [tool("a")], "system": "rules", "messages": conversation(1)}
        new, _ = place_cache_breakpoints(body, policy=CachePolicy(system_ttl="1h", min_tokens=0))
        assert markers(new) == [("tools[0]", "1h"), ("system[0]", "1h"), ("messages[1].content[0]", "5m")]
        assert_valid(new)

    def test_callers_later_1h_raises_ours(self) -> None:
        """A caller's 1h breakpoint in the history forces our earlier system breakpoint to 1h."""
        msgs = conversation(1)
        msgs[0] = {"role": "user", "content": [{"type": "text", "text": "q", "cache_control": EPH_1H}]}
        body = {"model": MODEL, "system": "rules", "messages": msgs}
        new, _ = place_cache_breakpoints(body, policy=ANY)
        assert markers(new) == [("system[0]", "1h"), ("messages[0].content[0]", "1h")]
        assert_valid(new)

    def test_callers_earlier_5m_lowers_ours(self) -> None:
        """A caller's 5m breakpoint on the tools keeps our later system breakpoint at 5m."""
        body = {"model": MODEL, "tools": [tool("a", EPH)], "system": "rules", "messages": conversation(1)}
        new, _ = place_cache_breakpoints(
            body, policy=CachePolicy(system_ttl="1h", history_ttl=None, min_tokens=0)
        )
        assert markers(new) == [("tools[0]", "5m"), ("system[0]", "5m")]
        assert_valid(new)

    def test_no_valid_ttl_between_callers_drops_ours(self) -> None:
        """Between a caller's 5m (earlier) and 1h (later) breakpoint no TTL is valid: ours is dropped."""
        msgs = conversation(1)
        msgs[0] = {"role": "user", "content": [{"type": "text", "text": "q", "cache_control": EPH_1H}]}
        body = {"model": MODEL, "tools": [tool("a", EPH)], "system": "rules", "messages": msgs}
        new, report = place_cache_breakpoints(body, policy=ANY)
        assert markers(new) == [("tools[0]", "5m"), ("messages[0].content[0]", "1h")]
        assert "system: no TTL fits between the caller's breakpoints (1h must precede 5m)" in report.skipped

    def test_policy_rejects_unknown_ttl(self) -> None:
        """Only 5m and 1h exist on the Anthropic API."""
        with pytest.raises(llmfinops.ConfigurationError, match="history_ttl='30m' is not one of"):
            CachePolicy(history_ttl="30m")


class TestLookback:
    """Each breakpoint looks back at most 20 blocks: long gaps get intermediate breakpoints."""

    def test_long_conversation_gaps_at_most_20(self) -> None:
        """System + 60 history blocks: two intermediates on a 20-block grid keep every gap <= 20."""
        body = {"model": MODEL, "system": "rules", "messages": conversation(30)}
        new, report = place_cache_breakpoints(body, policy=ANY)
        # slots: system = 0, messages[i] = i + 1; stable history ends at messages[59] (slot 60)
        assert markers(new) == [
            ("system[0]", "5m"),
            ("messages[19].content[0]", "5m"),
            ("messages[39].content[0]", "5m"),
            ("messages[59].content[0]", "5m"),
        ]
        assert [b.layer for b in report.placed] == ["system", "lookback", "lookback", "history"]
        assert_valid(new)

    def test_short_budget_keeps_the_grid_point_nearest_the_history(self) -> None:
        """With tools, system and history placed, the last slot goes to the grid point nearest the history."""
        body = {"model": MODEL, "tools": [tool("a")], "system": "rules", "messages": conversation(30)}
        new, _ = place_cache_breakpoints(body, policy=ANY)
        # slots: tools 0, system 1, messages[i] = i + 2; grid from slot 1: 21, 41 -> 41 = messages[39]
        assert markers(new) == [
            ("tools[0]", "5m"),
            ("system[0]", "5m"),
            ("messages[39].content[0]", "5m"),
            ("messages[59].content[0]", "5m"),
        ]

    def test_no_intermediates_for_short_conversations(self) -> None:
        """A gap of 20 blocks or fewer needs nothing extra."""
        body = {"model": MODEL, "system": "rules", "messages": conversation(10)}
        new, _ = place_cache_breakpoints(body, policy=ANY)
        assert markers(new) == [("system[0]", "5m"), ("messages[19].content[0]", "5m")]

    def test_grid_skips_thinking_blocks(self) -> None:
        """A grid point on a thinking block moves back to the nearest cacheable block."""
        msgs = conversation(15)
        # slot of messages[19] (grid point 20 from the system at slot 0) becomes [thinking, text]? no: make
        # messages[19] a thinking-only assistant turn, so the grid point steps back to messages[18]
        msgs[19] = {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "...", "signature": "s"}],
        }
        body = {"model": MODEL, "system": "rules", "messages": msgs}
        new, _ = place_cache_breakpoints(body, policy=ANY)
        assert ("messages[18].content[0]", "5m") in markers(new)
        assert_valid(new)


class TestLookbackAgainstTheCache:
    """Replayed through the simulated cache: intermediates turn history misses into reads."""

    @staticmethod
    def run(clock: FakeClock, policy: CachePolicy) -> tuple[list[int], CacheSimulator]:
        sim = CacheSimulator(now=clock.now, min_tokens=1024, output_tokens=50)
        client = llmfinops.wrap(anthropic_client(sim), cache=policy)
        system = " ".join(["rule"] * 2000)
        msgs: list[dict[str, Any]] = [{"role": "user", "content": "start " * 30}]
        for turn in range(6):
            client.messages.create(model=MODEL, max_tokens=256, system=system, messages=msgs)
            clock.advance(30)
            # an agent turn: 12 tool calls and their results (24 blocks) before the next request
            for j in range(12):
                msgs.append(
                    {
                        "role": "assistant",
                        "content": [
                            {
                                "type": "tool_use",
                                "id": f"t{turn}_{j}",
                                "name": "grep",
                                "input": {"q": f"x{j}"},
                            }
                        ],
                    }
                )
                msgs.append(
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": f"t{turn}_{j}", "content": "line " * 200}
                        ],
                    }
                )
        assert not sim.errors
        return [u.cache_read for u in sim.usages], sim

    def test_intermediates_recover_the_history(self, clock: FakeClock) -> None:
        """24 new blocks per request exceed the 20-block lookback; grid breakpoints still read it all."""
        with capture_records() as recs:
            with_grid, sim = self.run(clock, CachePolicy())
        without_grid, _ = self.run(clock, CachePolicy(max_breakpoints=2))
        # what the previous request wrote: everything before its newest user turn
        stable = [
            sum(block_tokens(b) for b in sim._blocks({**r, "messages": r["messages"][:-1]}))
            for r in sim.requests
        ]
        assert with_grid == [0, *stable[:-1]]
        assert stable[4] > 10_000  # 4 agent turns of history on top of the 2,000-token system prompt
        # without room for intermediates the history breakpoint misses: only the system prompt is read
        assert without_grid == [0, 2000, 2000, 2000, 2000, 2000]
        assert recs[2].policy == (
            "cache=auto: +4 breakpoints (system[0] 5m, messages[19].content[0] 5m, "
            "messages[39].content[0] 5m, messages[47].content[0] 5m)"
        )
