"""The verb table walked in-process: every verb documented, reachable and bounded.

No host runs here. These checks keep the table's parts in step with each other:
a forwarded verb has an MCP tool, an admin verb a ctl form, a handler names a
broker method that exists, and the sockets' `hello` lists what they dispatch.
"""

import math
import re
import subprocess
import sys
import time

import pytest

from hive import PYTHON, REPO
from hyperhive import ctl, fields, handlers, verbs
from hyperhive.broker import Broker
from hyperhive.errors import BadArgs, Forbidden, UnknownCmd
from hyperhive.paths import Places
from hyperhive.server import BrokerEndpoint
from hyperhive.sessions import Sessions
from hyperhive.store import Store

# The verbs SPEC §3 and §5 name; any other must be told in the README's differences.
SPEC_VERBS = {
    "hello", "list", "status", "spawn", "request_spawn", "start", "stop", "restart",
    "rebuild", "destroy", "set_paused", "pending", "approve", "deny", "send", "inbox",
    "questions", "answer", "subscribe", "recv", "ack", "requeue", "recent", "wake", "ask",
    "remind", "set_status", "open_threads", "request_apply_commit", "nap", "whoami"}


def readme_section(title):
    text = (REPO / "README.md").read_text()
    return text.split(f"\n## {title}", 1)[1].split("\n## ", 1)[0]


def offers():
    return [(role, cmd, offer) for role in verbs.ROLES
            for cmd, offer in verbs.table(role).items()]


# Documented ##################################################################

@pytest.mark.parametrize("verb", verbs.VERBS, ids=lambda v: v.cmd)
def test_every_verb_says_what_it_does(verb):
    assert len(verb.doc) > 10, verb.cmd
    assert verb.on or verb.local, f"{verb.cmd} is offered nowhere"


def test_every_verb_beyond_the_spec_is_told_in_the_readme():
    differences = readme_section("Where this differs from SPEC.md")
    for verb in verbs.VERBS:
        if verb.cmd not in SPEC_VERBS:
            assert re.search(rf"`{verb.cmd}[`{{]", differences), verb.cmd


def test_each_cmd_is_declared_once():
    cmds = [verb.cmd for verb in verbs.VERBS]
    assert len(cmds) == len(set(cmds)) == len(verbs.BY_CMD)


# The harness and the MCP tools ###############################################

def test_every_forwarded_verb_has_a_tool_or_says_why_not():
    for verb in verbs.VERBS:
        if verb.forward:
            assert bool(verb.tool) != bool(verb.no_tool), verb.cmd
        else:
            assert not verb.no_tool, f"{verb.cmd}: a reason for a tool nobody could call"


def test_every_tool_reaches_something_that_answers_it():
    for verb in verbs.VERBS:
        if verb.tool:
            assert verb.forward or verb.local, verb.cmd
            assert set(verb.tool.args) == set(verb.fields), verb.cmd
            assert callable(verb.tool.reply), verb.cmd
            assert len(verb.tool.description) > 40, verb.cmd


def test_the_manager_has_every_agent_tool_and_more():
    agent = [v.cmd for v in verbs.tools(verbs.AGENT)]
    manager = [v.cmd for v in verbs.tools(verbs.MANAGER)]
    # in the same order: the agent's list is the manager's without its own verbs
    assert [cmd for cmd in manager if cmd in agent] == agent and len(manager) > len(agent)
    assert {"nap", "whoami", "send", "recv"} <= set(agent)
    assert not {"list", "start", "request_spawn"} & set(agent)


def test_the_harness_forwards_only_what_the_host_offers_that_role():
    for role in (verbs.AGENT, verbs.MANAGER):
        forwarded = set(verbs.forwarded(role))
        assert forwarded <= set(verbs.table(role)), role
        assert {"send", "recv", "ask", "remind"} <= forwarded
    assert set(verbs.forwarded(verbs.MANAGER)) > set(verbs.forwarded(verbs.AGENT))
    assert not {"start", "request_spawn", "list"} & set(verbs.forwarded(verbs.AGENT))
    # What the harness keeps to itself is never also sent on to the host.
    local = {v.cmd for v in verbs.VERBS if v.local}
    assert local == {"hello", "nap", "whoami"}
    assert not local & set(verbs.forwarded(verbs.MANAGER))


def test_every_reply_text_has_the_arguments_it_needs():
    """Each tool's formatter takes the reply, every argument of its tool by name, and the
    MCP server's context (where the manager sees the agents' dirs)."""
    for verb in verbs.VERBS:
        if verb.tool:
            args = {name: None for name in verb.fields}
            args.update({"to": "operator", "name": "ted", "agent": "ted", "commit_ref": "HEAD",
                         "text": "", "id": 3, "seconds": 60})
            text = verb.tool.reply({"id": 3, "port": 8001}, **{k: args[k] for k in verb.fields},
                                   agents_dir="/agents")
            assert isinstance(text, str) and text, verb.cmd


# ctl #########################################################################

def test_every_admin_verb_has_a_ctl_form_or_says_why_not():
    for cmd, offer in verbs.table(verbs.ADMIN).items():
        verb = offer.verb
        assert bool(verb.ctl) != bool(verb.no_ctl), cmd
    assert verbs.BY_CMD["subscribe"].ctl


def test_ctl_forms_name_fields_of_their_verb_and_runners_ctl_knows():
    names = [name for name, _, _ in verbs.ctl_forms()]
    assert len(names) == len(set(names))
    for name, verb, form in verbs.ctl_forms():
        assert set(form.flags) <= set(verb.fields), name
        assert set(form.sets) <= set(verb.fields), name
        assert not form.stdin or form.stdin in verb.required, name
        assert not form.run or form.run in ctl.RUNNER_OPTIONS, name
        assert callable(form.render), name


# Handlers ####################################################################

@pytest.fixture
def broker(tmp_path):
    places = Places.from_root(tmp_path)
    places.ensure()
    store = Store(places.db)
    broker = Broker(store, places,
                    sessions=lambda writer: Sessions(store, writer, "http://127.0.0.1:1"))
    yield broker
    broker.stop()
    store.close()


def test_every_handler_named_by_string_is_a_method_of_the_broker(broker):
    for role, cmd, offer in offers():
        method = getattr(offer.handler, "method", None)
        if method is not None:
            assert callable(handlers.broker_method(broker, method)), (role, cmd, method)


def test_a_verb_reaches_the_broker_with_the_sockets_caller(broker):
    broker.agents.register("alice")
    sent = verbs.dispatch(verbs.table(verbs.ADMIN), broker, "root",
                          {"cmd": "send", "to": "alice", "body": "hi"})
    got = verbs.dispatch(verbs.table(verbs.AGENT), broker, "alice", {"cmd": "recv"})
    assert [(m["id"], m["from"]) for m in got["messages"]] == [(sent["id"], "operator")]
    assert verbs.dispatch(verbs.table(verbs.ADMIN), broker, "root",
                          {"cmd": "list"}) == {"agents": ["alice"]}


def test_the_manager_may_not_run_lifecycle_verbs_on_itself(broker):
    with pytest.raises(Forbidden, match="cannot run lifecycle verbs on itself"):
        verbs.dispatch(verbs.table(verbs.MANAGER), broker, "manager",
                       {"cmd": "stop", "name": "manager"})


# The sockets #################################################################

@pytest.mark.parametrize("role", verbs.ROLES)
def test_hello_lists_exactly_what_the_socket_takes(role):
    hello = BrokerEndpoint(None, role, "someone").hello()
    assert hello["cmds"] == verbs.offered(role)
    assert set(verbs.table(role)) == set(hello["cmds"]) - {"hello", "subscribe"}


def test_the_sockets_offer_what_they_did():
    assert set(verbs.table(verbs.AGENT)) == {
        "send", "recv", "ack", "requeue", "undeliver", "status", "recent", "wake", "ask",
        "answer", "remind", "reminders", "cancel_reminder", "set_status", "open_threads",
        "report", "notify_manager", "fail_message", "failed", "search"}
    assert set(verbs.table(verbs.MANAGER)) - set(verbs.table(verbs.AGENT)) == {
        "request_spawn", "request_apply_commit", "request_spawn_draft",
        "request_spawn_commit", "drafts", "discard_draft", "start", "stop", "restart",
        "rebuild", "list", "status_all", "get_logs"}
    assert set(verbs.table(verbs.ADMIN)) == {
        "list", "status", "spawn", "request_spawn", "start", "stop", "restart", "rebuild",
        "destroy", "purge", "drafts", "discard_draft", "set_paused", "pending", "approve",
        "approval_diff", "deny", "send", "inbox", "questions", "answer", "cancel_question",
        "logs", "login_url", "config", "reminders", "cancel_reminder", "failed", "retry_failed",
        "discard_failed", "budget", "search", "move"}


def test_dispatch_refuses_an_unknown_or_missing_cmd():
    table = verbs.table(verbs.AGENT)
    with pytest.raises(UnknownCmd, match="unknown cmd 'frobnicate'; try `hello`"):
        verbs.dispatch(table, None, "alice", {"cmd": "frobnicate"})
    with pytest.raises(UnknownCmd):
        verbs.dispatch(table, None, "alice", {"cmd": "spawn", "name": "x"})   # admin only
    with pytest.raises(BadArgs, match="a request needs a string `cmd` field"):
        verbs.dispatch(table, None, "alice", {"cmd": 7})
    with pytest.raises(BadArgs, match="missing field `body`"):
        verbs.dispatch(table, None, "alice", {"cmd": "send", "to": "bob"})


# Fields ######################################################################

def test_every_field_of_every_verb_carries_a_bound():
    bounded = (fields.Text, fields.Num, fields.OneOf, fields.Matches, fields.ListOf,
               fields.Detail, fields.Bool, fields.Ahead)
    for verb in verbs.VERBS:
        for name, spec in verb.fields.items():
            assert isinstance(spec, bounded), (verb.cmd, name, spec)


DETAIL = fields.Detail(max_keys=2, max_items=2, max_bytes=64)
AN_HOUR_AHEAD = fields.Ahead(3600, "within the hour")


@pytest.mark.parametrize("spec, value, sentence", [
    (fields.Text(4), 4, "`f` must be a string"),
    (fields.Text(4), "12345", "`f` is over its 4-byte limit; send less"),
    (fields.Text(4), "éé€", "`f` is over its 4-byte limit"),
    (fields.INT, True, "`f` must be an integer"),
    (fields.INT, 1.5, "`f` must be an integer"),
    (fields.INT, 1 << 64, "`f` must be an integer that fits in 64 bits"),
    (fields.NUM, math.nan, "`f` must be a number"),
    (fields.NUM, "3", "`f` must be a number"),
    (fields.NUM, 1e300, "`f` must be a number of sane size"),
    (fields.TIME, 1.0, "`f` must be a unix time in seconds"),
    (fields.BOOL, "yes", "`f` must be true or false"),
    (AN_HOUR_AHEAD, time.time() + 7200, "`f` must be within the hour"),
    (AN_HOUR_AHEAD, "soon", "`f` must be a number"),
    (AN_HOUR_AHEAD, -1, "`f` must be a unix time in seconds"),
    (fields.OneOf(("a", "b")), "c", "`f` must be one of a, b"),
    (fields.Matches(re.compile("[0-9]+"), "digits"), "x1", "`f` must be digits"),
    (fields.ListOf(fields.INT, 2), "1,2", "`f` must be a list"),
    (fields.ListOf(fields.INT, 2), [1, 2, 3], "`f` has 3 items; at most 2 are allowed"),
    (fields.ListOf(fields.INT, 2), [1, "2"], "`f[1]` must be an integer"),
    (DETAIL, [], "`f` must be an object"),
    (DETAIL, {"a": 1, "b": 2, "c": 3}, "`f` has 3 keys; at most 2 are allowed"),
    (DETAIL, {"Bad-Key": 1}, "`f` keys must be short lowercase identifiers"),
    (DETAIL, {"a": {"nested": 1}}, "`f.a` must be a string, a number, true/false, null"),
    (DETAIL, {"a": "x" * 80}, "`f` is over its 64-byte limit"),
])
def test_each_spec_refuses_bad_input_with_a_sentence_naming_the_field(spec, value, sentence):
    with pytest.raises(BadArgs) as refused:
        spec.check("f", value)
    assert str(refused.value).startswith(sentence)


@pytest.mark.parametrize("spec, value", [
    (fields.Text(4), "a€"), (fields.INT, -3), (fields.NUM, 0.5), (fields.BOOL, False),
    (fields.ListOf(fields.SHORT, 2), ["a"]), (DETAIL, {"a": None, "b": ["x"]}),
    (AN_HOUR_AHEAD, 1_000_000_000), (AN_HOUR_AHEAD, int(time.time()) + 3000)])
def test_each_spec_passes_good_input_unchanged(spec, value):
    assert spec.check("f", value) == value


def test_the_table_loads_with_the_standard_library_alone():
    code = ("import sys; before = set(sys.modules); "
            "import hyperhive.verbs, hyperhive.replies, hyperhive.printouts; "
            "print(' '.join({m.split('.')[0] for m in set(sys.modules) - before}))")
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=30,
                         cwd=str(REPO))
    assert out.returncode == 0, out.stderr
    foreign = set(out.stdout.split()) - set(sys.stdlib_module_names) - {"hyperhive"}
    assert not foreign, foreign

