"""TurnReader, classify and summarise against the recorded output of the real claude CLI."""

import json
from pathlib import Path

import pytest

from hyperhive.stream import TEXT_LIMIT, TurnReader, classify, reset_time, summarise

RECORDINGS = Path(__file__).parent / "recordings"


def recording_lines(name):
    return (RECORDINGS / name).read_bytes().splitlines(keepends=True)


def read(name, lines=None):
    reader = TurnReader()
    for line in lines if lines is not None else recording_lines(name):
        reader.feed(line)
    return reader


def edited(name, edit):
    """The recording's lines with `edit(event)` applied to each parsed event."""
    out = []
    for line in recording_lines(name):
        event = json.loads(line)
        edit(event)
        out.append(json.dumps(event))
    return out


def usage(inp, out, cache_read, cache_creation):
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_creation,
    }


# name, rc, signalled, require_hyperhive, outcome, session id, tool calls, usage, cost
CASES = [
    ("ok-text-only-turn.jsonl", 0, False, False, "ok",
     "43763307-858b-4c3d-af95-74ffa4e75cc7", {}, usage(11, 7, 100, 50), 0.0003555),
    ("ok-mcp-tool-turn.jsonl", 0, False, True, "ok",
     "29e72a8e-0ca3-45e5-8eb0-46910651c404", {"mcp__hyperhive__add": 1},
     usage(22, 14, 200, 100), 0.000711),
    ("mcp-tool-permission-denied.jsonl", 0, False, True, "ok",
     "1d21adca-6a8d-456b-bd5d-ce3dce4a59d4", {"mcp__hyperhive__add": 1},
     usage(22, 14, 200, 100), 0.000711),
    ("mcp-tool-errors-and-failed-server.jsonl", 0, False, True, "ok",
     "bdb8389d-5308-4d66-9b78-945ee4c203ee",
     {"mcp__hyperhive__post_message": 1, "mcp__hyperhive__add": 1, "mcp__broken__anything": 1},
     usage(44, 28, 400, 200), 0.001422),
    ("plain-text-mcp-tool-via-gevent-bridge.jsonl", 0, False, True, "ok",
     "125449f9-ef52-48d2-95f8-2bce305bff02", {"mcp__hyperhive__post_message": 1},
     usage(22, 14, 200, 100), 0.000711),
    ("error-max-turns.jsonl", 1, False, True, "failed",
     "bfca8b6a-56b3-407d-b65e-cef1c2397811", {"mcp__hyperhive__add": 1},
     usage(11, 7, 100, 50), 0.0003555),
    ("prompt-too-long-first-turn.jsonl", 1, False, True, "prompt_too_long",
     "017ec8e3-54ad-42be-97bd-34e33768ff6e", {}, usage(0, 0, 0, 0), 0),
    ("prompt-too-long-after-failed-autocompact.jsonl", 1, False, True, "prompt_too_long",
     "1d21adca-6a8d-456b-bd5d-ce3dce4a59d4", {}, usage(0, 0, 0, 0), 0.000711),
    ("prompt-too-long-autocompact-disabled.jsonl", 1, False, True, "prompt_too_long",
     "1d21adca-6a8d-456b-bd5d-ce3dce4a59d4", {}, usage(0, 0, 0, 0), 0.000711),
    ("api-error-529-after-retries.jsonl", 1, False, True, "failed",
     "ad6eefc5-747b-4b39-a3ad-501f4109e4e6", {}, usage(0, 0, 0, 0), 0),
    ("resume-unknown-session.jsonl", 1, False, True, "failed",
     "11111111-2222-3333-4444-555555555555", {}, usage(0, 0, 0, 0), 0),
    ("compact-via-print.jsonl", 0, False, False, "ok",
     "29e72a8e-0ca3-45e5-8eb0-46910651c404", {}, usage(0, 0, 0, 0), 0.001422),
    ("named-session.jsonl", 0, False, False, "ok",
     "a7b9df3c-c750-4193-a81e-0ae21f31a4bd", {}, usage(11, 7, 100, 50), 0.0003555),
    # Two turns in one process: the last result is the one that counts.
    ("stream-json-input-two-turns.jsonl", 0, False, False, "ok",
     "34f4e6ed-8a3d-4e25-8ced-c83d9ec633d1", {}, usage(11, 7, 100, 50), 0.000711),
    ("rate-limit-subscription-rejected.jsonl", 1, False, True, "rate_limited",
     "f4cc6aa0-e7cb-47ec-ab48-9b3645e6674a", {}, usage(0, 0, 0, 0), 0),
    ("rate-limit-api-key-rejected.jsonl", 1, False, True, "rate_limited",
     "f023c675-ec0e-4956-a12a-e01620c3d846", {}, usage(0, 0, 0, 0), 0),
    ("rate-limit-api-key-retried.jsonl", 0, False, False, "ok",
     "a52a1bfe-5842-4c85-b619-923e4c7e07d6", {}, usage(10, 5, 0, 0), 0.000105),
    ("rate-limit-subscription-warning.jsonl", 0, False, False, "ok",
     "3c319760-3319-42ef-ba33-f49412c03369", {}, usage(10, 5, 0, 0), 0.000105),
    ("sigint-while-waiting-for-model.jsonl", 0, True, True, "cancelled",
     "472099f6-793e-43aa-814f-da65d5b8585b", {}, usage(0, 0, 0, 0), None),
    ("sigint-during-mcp-tool-call.jsonl", 0, True, True, "cancelled",
     "0c057d0e-02db-42d6-b2da-f11833163543", {"mcp__hyperhive__slow": 1},
     usage(11, 7, 100, 50), 0.0003555),
    # No result: the usage is the per-message sum of the assistant lines (output_tokens 1).
    ("sigterm-during-mcp-tool-call.jsonl", -15, False, True, "failed",
     "01058248-3b9d-48ac-a5ab-497f4bde45c5", {"mcp__hyperhive__slow": 1},
     usage(11, 1, 100, 50), None),
]


def test_every_recording_has_a_case():
    covered = {case[0] for case in CASES}
    assert covered == {p.name for p in RECORDINGS.glob("*.jsonl")}


@pytest.mark.parametrize(
    "name, rc, signalled, require, outcome, session_id, tools, tokens, cost",
    CASES,
    ids=[case[0] for case in CASES],
)
def test_recording(name, rc, signalled, require, outcome, session_id, tools, tokens, cost):
    reader = read(name)
    assert classify(reader, rc, signalled, require_hyperhive=require)[0] == outcome
    assert reader.session_id == session_id
    assert reader.tool_calls == tools
    assert reader.usage_totals() == tokens
    assert reader.total_cost_usd == cost


def test_every_recorded_event_parses_and_summarises():
    for path in RECORDINGS.glob("*.jsonl"):
        reader = TurnReader()
        for line in path.read_bytes().splitlines():
            event = reader.feed(line)
            assert isinstance(event, dict), path.name
            summary = summarise(event)
            assert summary is None or isinstance(summary["t"], str)
            json.dumps(summary)


def test_usage_counts_each_message_once():
    # Without the result line: the first message has two lines (text, tool_use).
    lines = recording_lines("ok-mcp-tool-turn.jsonl")[:-1]
    reader = read(None, lines)
    assert reader.usage_totals() == usage(22, 2, 200, 100)
    assert reader.result is None
    assert reader.total_cost_usd is None


def test_the_result_usage_wins_over_the_line_sum():
    reader = read("ok-mcp-tool-turn.jsonl")
    assert reader.usage_totals()["output_tokens"] == 14


def test_a_repeated_tool_use_line_counts_once():
    lines = recording_lines("ok-mcp-tool-turn.jsonl")
    reader = read(None, lines[:3] + lines[2:3] + lines[3:])
    assert reader.tool_calls == {"mcp__hyperhive__add": 1}


def test_context_size_is_the_last_real_assistant_message():
    assert read("ok-mcp-tool-turn.jsonl").ctx_tokens == 11 + 100 + 50
    # The synthetic error line carries zero usage and must not reset the context size.
    lines = recording_lines("ok-text-only-turn.jsonl")[:2]
    lines += recording_lines("prompt-too-long-first-turn.jsonl")[1:]
    assert read(None, lines).ctx_tokens == 161


def test_mcp_servers_from_init():
    reader = read("mcp-tool-errors-and-failed-server.jsonl")
    assert reader.mcp_status("broken") == "failed"
    assert reader.hyperhive_connected
    assert not read("ok-text-only-turn.jsonl").hyperhive_connected


def test_hyperhive_not_connected_fails_an_ok_turn():
    def fail_server(event):
        if event.get("subtype") == "init":
            event["mcp_servers"][0]["status"] = "failed"

    reader = read(None, edited("ok-mcp-tool-turn.jsonl", fail_server))
    outcome, note = classify(reader, 0, False)
    assert outcome == "failed"
    assert "hyperhive" in note and "failed" in note
    reader = read("ok-text-only-turn.jsonl")
    assert classify(reader, 0, False) == (
        "failed",
        "The hyperhive MCP server was not listed, so its tools were missing.",
    )


def test_notes_are_short_sentences():
    outcome, note = classify(read("prompt-too-long-first-turn.jsonl"), 1, False)
    assert outcome == "prompt_too_long"
    assert note.startswith("Prompt is too long")
    assert len(note) <= 301
    assert classify(read("error-max-turns.jsonl"), 1, False) == (
        "failed",
        "Reached maximum number of turns (1)",
    )
    reader = read("resume-unknown-session.jsonl")
    assert classify(reader, 1, False)[1] == (
        "No conversation found with session ID: 11111111-2222-3333-4444-555555555555"
    )
    assert "529 Overloaded" in classify(read("api-error-529-after-retries.jsonl"), 1, False)[1]


def test_no_result_without_a_signal_is_a_failure_with_the_exit_code():
    reader = read("sigterm-during-mcp-tool-call.jsonl")
    assert classify(reader, -15, False) == (
        "failed",
        "claude was killed by signal 15 before it finished the turn.",
    )
    assert classify(reader, 2, False) == ("failed", "claude exited with code 2 without a result.")
    assert classify(TurnReader(), 1, False)[0] == "failed"


def test_sigint_in_a_tool_is_cancelled_only_when_we_sent_it():
    reader = read("sigint-during-mcp-tool-call.jsonl")
    assert reader.interrupted
    assert classify(reader, 0, True)[0] == "cancelled"
    assert classify(reader, 0, False)[0] == "failed"


def test_sigint_while_waiting_is_cancelled():
    reader = read("sigint-while-waiting-for-model.jsonl")
    assert reader.interrupted and reader.result is None
    assert classify(reader, 0, True) == ("cancelled", "Cancelled by the operator.")


def _as_status(status, error):
    def edit(event):
        if event.get("type") == "assistant":
            event["error"] = error
            event["api_error_status"] = status
        if event.get("type") == "result":
            event["api_error_status"] = status

    return edit


# The recorded 5-hour window's reset, in unix seconds (an hour after the recording).
RECORDED_RESET = 1796588174


def test_a_subscription_rate_limit_gives_its_reset_time():
    assert read("rate-limit-subscription-rejected.jsonl").rate_limit_reset == RECORDED_RESET


def test_the_reset_time_is_read_from_the_error_line_alone():
    lines = [line for line in recording_lines("rate-limit-subscription-rejected.jsonl")
             if b'"rate_limit_event"' not in line]
    assert read(None, lines).rate_limit_reset == RECORDED_RESET


def test_the_reset_time_is_read_from_the_event_alone():
    def drop_params(event):
        event.pop("api_error_params", None)
    reader = read(None, edited("rate-limit-subscription-rejected.jsonl", drop_params))
    assert reader.rate_limit_reset == RECORDED_RESET


@pytest.mark.parametrize("name", ["rate-limit-api-key-rejected.jsonl",
                                  "rate-limit-api-key-retried.jsonl",
                                  "rate-limit-subscription-warning.jsonl",
                                  "api-error-529-after-retries.jsonl"])
def test_no_reset_time_without_a_refused_limit(name):
    # An API key's 429 names no reset; a warning is not a refusal.
    assert read(name).rate_limit_reset is None


@pytest.mark.parametrize("value, seconds", [
    (1796588174, 1796588174.0), (1796588174500, 1796588174.5), (1796588174.25, 1796588174.25),
    ("1796588174", None), (None, None), (True, None), (0, None), (-5, None),
    (float("nan"), None), (float("inf"), None), (10 ** 30, None), ([1], None)])
def test_reset_time_takes_seconds_or_milliseconds_and_nothing_else(value, seconds):
    assert reset_time(value) == seconds


def test_an_odd_rate_limit_event_leaves_the_reset_unknown():
    for info in ({}, {"status": "rejected"}, {"status": "rejected", "resetsAt": "soon"}, "x"):
        reader = TurnReader()
        reader.feed(json.dumps({"type": "rate_limit_event", "rate_limit_info": info}))
        assert reader.rate_limit_reset is None


def test_the_rate_limit_event_is_summarised_with_its_reset():
    [line] = [line for line in recording_lines("rate-limit-subscription-rejected.jsonl")
              if b'"rate_limit_event"' in line]
    assert summarise(json.loads(line)) == {"t": "system", "subtype": "rate_limit",
                                           "status": "rejected", "resets_at": RECORDED_RESET,
                                           "window": "five_hour"}


def test_rate_limit_from_status_or_error_kind():
    lines = edited("api-error-529-after-retries.jsonl", _as_status(429, "rate_limit"))
    assert classify(read(None, lines), 1, False)[0] == "rate_limited"
    lines = edited("api-error-529-after-retries.jsonl", _as_status(None, "rate_limit"))
    assert classify(read(None, lines), 1, False)[0] == "rate_limited"


def test_auth_failure_from_status_error_kind_or_retries():
    lines = edited("api-error-529-after-retries.jsonl", _as_status(401, "authentication_failed"))
    assert classify(read(None, lines), 1, False)[0] == "auth_failed"

    def retries_said_auth(event):
        if event.get("subtype") == "api_retry":
            event.update(error_status=401, error="authentication_failed")
        if event.get("type") == "assistant":
            event.pop("error")
            event.pop("api_error_status")
        if event.get("type") == "result":
            event["api_error_status"] = None

    lines = edited("api-error-529-after-retries.jsonl", retries_said_auth)
    assert classify(read(None, lines), 1, False)[0] == "auth_failed"


def test_prompt_too_long_by_reason_or_text():
    def blocking_limit(event):
        if event.get("type") == "result":
            event["terminal_reason"] = "blocking_limit"

    lines = edited("prompt-too-long-autocompact-disabled.jsonl", blocking_limit)
    assert classify(read(None, lines), 1, False)[0] == "prompt_too_long"

    def no_reason(event):
        if event.get("type") == "result":
            event.pop("terminal_reason")

    lines = edited("prompt-too-long-autocompact-disabled.jsonl", no_reason)
    assert classify(read(None, lines), 1, False)[0] == "prompt_too_long"


def test_compaction_status():
    reader = read("compact-via-print.jsonl")
    assert reader.compact_result == "success" and not reader.compacting
    reader = read("prompt-too-long-after-failed-autocompact.jsonl")
    assert (reader.compact_result, reader.compact_error) == ("failed", "exhausted")
    reader = read(None, recording_lines("compact-via-print.jsonl")[:1])
    assert reader.compacting


def test_api_error_kind_from_the_synthetic_line():
    reader = read("api-error-529-after-retries.jsonl")
    assert (reader.api_error, reader.api_error_status) == ("server_error", 529)
    assert (reader.retry_error, reader.retry_status) == ("overloaded", 529)
    assert read("prompt-too-long-first-turn.jsonl").api_error == "invalid_request"


def summaries(name):
    return [summarise(json.loads(line)) for line in recording_lines(name)]


def test_summaries_of_a_tool_turn():
    init, text, tool_use, tool_result, answer, result = summaries("ok-mcp-tool-turn.jsonl")
    assert init is None
    assert text == {"t": "text", "text": "Let me add."}
    assert tool_use == {
        "t": "tool_use",
        "name": "mcp__hyperhive__add",
        "input": {"a": 2, "b": 3},
        "id": "toolu_fake_5c8a312732",
    }
    assert tool_result == {
        "t": "tool_result",
        "id": "toolu_fake_5c8a312732",
        "text": '{"result":"5"}',
        "is_error": False,
    }
    assert answer == {"t": "text", "text": "The sum is 5."}
    assert result == {
        "t": "result",
        "subtype": "success",
        "is_error": False,
        "reason": "completed",
        "text": "The sum is 5.",
        "turns": 2,
        "cost": 0.000711,
        "ms": 152,
    }


def test_summary_flattens_content_arrays():
    tool_result = summaries("plain-text-mcp-tool-via-gevent-bridge.jsonl")[2]
    assert tool_result["t"] == "tool_result"
    assert tool_result["text"].startswith("harness handled post_message(")


def test_summaries_of_errors_and_system_frames():
    denied = summaries("mcp-tool-permission-denied.jsonl")
    assert denied[3] == {
        "t": "system",
        "subtype": "permission_denied",
        "name": "mcp__hyperhive__add",
        "id": "toolu_fake_a16ba7f510",
        "text": "Claude requested permissions to use mcp__hyperhive__add, "
        "but you haven't granted it yet.",
    }
    assert denied[4]["is_error"] is True
    retry, error, result = summaries("api-error-529-after-retries.jsonl")[1:]
    assert retry == {
        "t": "system",
        "subtype": "api_retry",
        "attempt": 1,
        "max": 1,
        "status": 529,
        "error": "overloaded",
        "delay_ms": 574,
    }
    assert error["t"] == "error" and error["status"] == 529
    assert error["text"].startswith("API Error: 529 Overloaded")
    assert result["is_error"] and result["reason"] == "api_error"
    assert summaries("resume-unknown-session.jsonl")[0]["text"].startswith("No conversation")


def test_summaries_of_interrupts_and_compaction():
    assert summaries("sigint-while-waiting-for-model.jsonl")[1] == {"t": "interrupted"}
    assert summaries("sigint-during-mcp-tool-call.jsonl")[3] == {"t": "interrupted"}
    compact = summaries("compact-via-print.jsonl")
    assert compact[0] == {
        "t": "system",
        "subtype": "status",
        "status": "compacting",
        "compact_result": None,
        "compact_error": None,
    }
    assert compact[1]["compact_result"] == "success"
    assert compact[2] is None  # init
    assert compact[3] == {
        "t": "system",
        "subtype": "compact_boundary",
        "trigger": "manual",
        "pre_tokens": 168,
        "post_tokens": 2671,
    }
    assert compact[4]["t"] == "user" and compact[4]["text"].startswith("This session")
    assert summaries("named-session.jsonl")[0] is None  # session_title_changed


def test_summary_of_several_blocks_keeps_them_all():
    event = {
        "type": "assistant",
        "message": {"content": [{"type": "text", "text": "a"}, {"type": "thinking", "thinking": ""},
                                {"type": "tool_use", "id": "t1", "name": "Read", "input": {}}]},
    }
    assert summarise(event) == {
        "t": "blocks",
        "items": [
            {"t": "text", "text": "a"},
            {"t": "tool_use", "name": "Read", "input": {}, "id": "t1"},
        ],
    }


def test_long_texts_are_clipped():
    big = "x" * (TEXT_LIMIT * 3)
    tool_result = {
        "type": "user",
        "message": {"content": [{"type": "tool_result", "tool_use_id": "t", "content": big}]},
    }
    assert len(summarise(tool_result)["text"]) == TEXT_LIMIT + 1
    tool_use = {
        "type": "assistant",
        "message": {"content": [{"type": "tool_use", "name": "Write", "id": "w",
                                 "input": {"path": "/a", "content": big, "n": 3}}]},
    }
    clipped = summarise(tool_use)["input"]
    assert clipped["path"] == "/a" and clipped["n"] == 3
    assert len(clipped["content"]) == TEXT_LIMIT + 1


GARBAGE = [
    "",
    "\n",
    "   ",
    "not json at all",
    b"\xff\xfe\x00garbage",
    "[1, 2, 3]",
    '"a string"',
    "{",
    '{"type": "assistant", "message": ',
    "{}",
    '{"type": "assistant", "message": "a string"}',
    '{"type": "assistant", "message": {"content": "a string", "usage": [1]}}',
    '{"type": "assistant", "message": {"content": [1, null, "x", {"type": "tool_use"}]}}',
    '{"type": "user", "message": {"content": [1, null, {"type": "text", "text": 5}]}}',
    '{"type": "system", "subtype": "init", "mcp_servers": "nope"}',
    '{"type": "system", "subtype": "init", "mcp_servers": [1, "x", null]}',
    '{"type": "system", "subtype": "compact_boundary", "compact_metadata": 7}',
    '{"type": "result", "usage": [], "errors": "boom", "is_error": true}',
    '{"type": "result", "result": 42, "total_cost_usd": "free", "is_error": true}',
    '{"type": "rate_limit_event", "rate_limit_info": {}}',
    '{"type": "stream_event", "event": {"type": "content_block_delta"}}',
    '{"session_id": 12}',
    None,
    12,
]


def test_garbage_never_raises():
    reader = TurnReader()
    for line in GARBAGE:
        summarise(reader.feed(line))
    for outcome_input in (0, 1, -9, None):
        assert classify(reader, outcome_input, False)[0] in ("failed", "cancelled")
    reader.usage_totals()
    reader.mcp_status("hyperhive")
    assert reader.total_cost_usd is None


def test_garbage_between_real_lines_changes_nothing():
    lines = []
    for line in recording_lines("ok-mcp-tool-turn.jsonl"):
        lines += [line, b"noise\n", b"{truncated", b"\n"]
    reader = read(None, lines)
    assert classify(reader, 0, False) == ("ok", "")
    assert reader.tool_calls == {"mcp__hyperhive__add": 1}


def test_truncated_json_is_skipped():
    line = recording_lines("ok-mcp-tool-turn.jsonl")[4]
    reader = TurnReader()
    assert reader.feed(line[: len(line) // 2]) is None
    assert reader.result is None


def test_a_five_megabyte_line():
    text = "y" * (5 * 1024 * 1024)
    event = {
        "type": "user",
        "message": {"content": [{"type": "tool_result", "tool_use_id": "t1", "content": text}]},
        "session_id": "s-big",
    }
    reader = TurnReader()
    parsed = reader.feed(json.dumps(event).encode() + b"\n")
    assert parsed["message"]["content"][0]["content"] == text
    assert reader.session_id == "s-big"
    assert len(summarise(parsed)["text"]) == TEXT_LIMIT + 1


def test_bytes_and_str_lines_are_the_same():
    line = recording_lines("ok-text-only-turn.jsonl")[-1]
    assert TurnReader().feed(line) == TurnReader().feed(line.decode())


def tool_use_line(tool_id, name, tool_input, message_id="msg_1"):
    """An assistant line carrying one tool_use block, shaped like the recordings'."""
    return json.dumps({
        "type": "assistant", "session_id": "s-sends", "parent_tool_use_id": None,
        "message": {"id": message_id, "type": "message", "role": "assistant",
                    "model": "claude-haiku-5-5", "usage": usage(10, 1, 0, 0),
                    "content": [{"type": "tool_use", "id": tool_id, "name": name,
                                 "input": tool_input}]}})


def test_sends_are_counted_by_recipient_class():
    send = "mcp__hyperhive__send"
    lines = [tool_use_line("t1", send, {"to": "operator", "body": "done"}),
             tool_use_line("t2", send, {"to": "bob", "body": "ping"}, "msg_2"),
             tool_use_line("t3", send, {"to": "carol", "body": "ping"}, "msg_3"),
             tool_use_line("t4", send, {"to": "manager", "body": "help"}, "msg_4"),
             tool_use_line("t5", send, {"to": "*", "body": "all hands"}, "msg_5"),
             tool_use_line("t6", "mcp__hyperhive__recv", {"to": "operator"}, "msg_6"),
             tool_use_line("t7", "mcp__other__send", {"to": "operator"}, "msg_7")]
    reader = read(None, lines)
    assert reader.sends == {"operator": 1, "peer": 2, "manager": 1, "broadcast": 1}
    assert reader.tool_calls[send] == 5 and reader.tool_call_count == 7


def test_a_repeated_send_line_counts_once():
    line = tool_use_line("t1", "mcp__hyperhive__send", {"to": "operator", "body": "hi"})
    reader = read(None, [line, line, line])
    assert reader.sends == {"operator": 1}
    assert reader.tool_calls == {"mcp__hyperhive__send": 1}


def test_a_send_without_a_recipient_is_a_call_but_no_send():
    send = "mcp__hyperhive__send"
    lines = [tool_use_line("t1", send, {"body": "to whom?"}),
             tool_use_line("t2", send, {"to": 7, "body": "x"}, "msg_2"),
             tool_use_line("t3", send, {"to": "", "body": "x"}, "msg_3"),
             tool_use_line("t4", send, "not an object", "msg_4")]
    reader = read(None, lines)
    assert reader.sends == {} and reader.tool_calls == {send: 4}


def test_recorded_turns_send_nothing():
    assert read("ok-mcp-tool-turn.jsonl").sends == {}
    assert read("mcp-tool-errors-and-failed-server.jsonl").sends == {}
