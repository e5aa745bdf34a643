"""The MCP server of an agent's hive tools (SPEC §5), warm in one process per agent.

Importing the MCP SDK costs over a second of CPU, too slow for claude to pay on every
turn. So the harness starts this server once (`hyperhive mcp --listen-fd N`, on a
unix socket it bound) and claude's per-turn `hyperhive mcp` is only a byte relay to
it (mcprelay.py): each connection is one MCP session, as stdio would have carried.
`hyperhive mcp --stdio` still serves one session on this process's own stdio.

Each tool is a plain function: the SDK runs it in a worker thread, where it opens a
fresh connection to the harness socket (`$HYPERHIVE_SOCK`, else
`<hive-dir>/mcp.sock`), sends one request `{"cmd": <tool>, ...args}` and turns
the reply into plain text for the model:

    send(to="alice", body="hi")  ->  {"cmd":"send","to":"alice","body":"hi"}
                                 <-  {"ok":true,"v":1,"id":12}
                                 ->  "sent to alice (message #12)"

An `ok: false` reply becomes an is_error result carrying the host's sentence,
so claude reads the refusal and can act on it. The server keeps no state between
calls (the harness owns it all) and never runs under gevent: the SDK's anyio loop
hangs when the standard library is patched. Nothing here writes to stdout, which
carries the protocol under --stdio; logs go to journald or stderr.

The tools are not written out here: each is built from its verb's entry in the
verb table (verbs.py: name, description, parameters) and its reply's text comes
from replies.py. This module only adapts them to the SDK.
"""

import contextvars
import inspect
import logging
import os
import socket
import threading
import time
import weakref
from typing import Annotated

import anyio
from anyio.abc import SocketListener
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server
from pydantic import Field

from . import isolation, journal, verbs
from .bounds import MAX_WAIT
from .client import Client, RemoteError
from .replies import with_retry_note

log = logging.getLogger(__name__)

CALL_TIMEOUT = 60
# A JSON-RPC line from claude longer than this ends its session (the wire's own bound).
MAX_LINE = 64 << 20
# A parked recv answers after at most MAX_WAIT seconds; this is the slack on top.
RECV_SLACK = 30

INSTRUCTIONS = """\
Tools for talking to the rest of the hive: other agents, the manager and the operator \
(the human at the dashboard). Messages to you queue in your inbox; `recv` takes them, \
`send` writes to others. Questions (`ask`) and reminders (`remind`) answer later as \
messages in your inbox, never inline. When you have nothing useful left to do, wait with \
`recv` and a long `wait_seconds` (up to 180) rather than a shell sleep: a message wakes \
you at once. Results are plain text; a refused call explains why in one sentence."""


# The socket ##################################################################

def socket_path(settings):
    """The harness's socket: HYPERHIVE_SOCK, else mcp.sock in the hive dir."""
    return settings.sock or os.path.join(settings.hive_dir, "mcp.sock")


class SessionEnded(Exception):
    """The MCP session a tool call belongs to is over: nobody will read its result."""


class _Session:
    """The connections to the harness that one MCP session's tool calls hold open.

    When the session ends (claude's turn is over) they are cut: a parked `recv` must not
    take messages nobody will read. The harness sees the hang-up and gives them back,
    as it did when claude's own MCP process exited with the turn.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.open = weakref.WeakSet()   # a closed socket is simply collected
        self.ended = False

    def opened(self, sock):
        with self.lock:
            if self.ended:
                sock.close()
                raise SessionEnded("the MCP session ended")
            self.open.add(sock)

    def end(self):
        with self.lock:
            self.ended = True
            for sock in list(self.open):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass        # closed already


# The session of the tool call running in this task or worker thread (anyio hands the
# context on to the thread); None under --stdio, where the process ends with its session.
_session_of_call = contextvars.ContextVar("session", default=None)


class _SessionClient(Client):
    """A Client whose connections belong to the calling MCP session."""

    def connect(self, timeout=None):
        sock = super().connect(timeout)
        session = _session_of_call.get()
        if session is not None:
            session.opened(sock)
        return sock


class _Hive:
    """One request per call over a fresh connection to the harness."""

    def __init__(self, path, sleep=time.sleep):
        self.path = str(path)
        self.sleep = sleep

    def call(self, cmd, timeout=CALL_TIMEOUT, **fields):
        fields = {k: v for k, v in fields.items() if v is not None}
        started = time.monotonic()
        try:
            reply, retries = _SessionClient(self.path).call_retrying(
                cmd, timeout=timeout, sleep=self.sleep, **fields)
        except RemoteError as exc:
            journal.event(log, "tool_call", f"{cmd} refused: {exc}", outcome="refused",
                          tool=cmd, code=exc.code)
            raise ToolError(str(exc)) from None
        except SessionEnded:
            raise ToolError("the MCP session ended before the hive answered") from None
        except (OSError, ValueError) as exc:
            journal.event(log, "tool_call", f"{cmd}: no answer from {self.path}: {exc}",
                          level=logging.WARNING, outcome="unreachable", tool=cmd)
            raise ToolError(f"the hive socket is not answering: {self.path}: {exc} (gave up "
                            "after retrying for up to a minute; try again later)") from None
        # The harness reports the retries of its own link to the host; count both hops.
        retries += reply.pop("retries", 0) or 0
        journal.event(log, "tool_call", f"{cmd} ok", outcome="ok", tool=cmd, retries=retries,
                      ms=round((time.monotonic() - started) * 1000))
        return reply, retries


# Tools #######################################################################

def build_server(socket_path, manager=False, sleep=time.sleep, agents_dir="/agents"):
    """An MCPServer named `hyperhive` with the agent tools (and the manager's when asked).

    `sleep` is what the client waits with between retries; `agents_dir` is where the
    manager sees the agents' dirs, which its replies name.
    """
    hive = _Hive(socket_path, sleep)
    context = {"agents_dir": agents_dir}
    server = MCPServer("hyperhive", instructions=INSTRUCTIONS)
    for verb in verbs.tools(verbs.MANAGER if manager else verbs.AGENT):
        server.tool(name=verb.cmd, description=verb.tool.description,
                    structured_output=False)(tool_function(verb, hive, context))
    return server


def tool_function(verb, hive, context):
    """A plain function for the SDK: its signature (from the verb's fields and its tool's
    Args) is what the SDK makes the input schema of. The reply's formatter gets the call's
    arguments and `context`, this server's facts."""
    tool = verb.tool

    def call(**args):
        timeout = CALL_TIMEOUT
        if tool.parks:
            timeout = min(args.get("wait_seconds") or 0, MAX_WAIT) + RECV_SLACK
        reply, retries = hive.call(verb.cmd, timeout=timeout, **args)
        return with_retry_note(tool.reply(reply, **args, **context), retries)

    call.__name__ = call.__qualname__ = verb.cmd
    required = [_parameter(name, spec, tool.args[name], True)
                for name, spec in verb.required.items()]
    optional = [_parameter(name, spec, tool.args[name], False)
                for name, spec in verb.optional.items()]
    call.__signature__ = inspect.Signature(required + optional, return_annotation=str)
    return call


def _parameter(name, spec, arg, required):
    bounds = {k: getattr(arg, k) for k in ("ge", "le", "gt") if getattr(arg, k) is not None}
    kind = spec.pytype if required else spec.pytype | None
    return inspect.Parameter(
        name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
        default=inspect.Parameter.empty if required else None,
        annotation=Annotated[kind, Field(description=arg.description, **bounds)])


# Sessions on a socket ########################################################

async def serve_sessions(server, listening):
    """Run one MCP session per connection accepted on the socket `listening`, forever."""
    listener = await SocketListener.from_socket(listening)
    async with listener:
        await listener.serve(lambda stream: _session(server, stream))


async def _session(server, stream):
    session = _Session()
    lines = _SocketLines(stream, session.end)
    _session_of_call.set(session)       # this task's context: its tool calls inherit it
    try:
        async with stream, stdio_server(lines, lines) as (read, write):
            # The SDK runs stdio the same way; MCPServer keeps its session runner private.
            low = server._lowlevel_server
            await low.run(read, write, low.create_initialization_options())
    except Exception:       # one broken session must not end the others
        log.exception("an MCP session ended in an error")
    finally:
        session.end()


class _SocketLines:
    """A connection as the two text files stdio_server reads lines from and writes to.

    `at_end` runs when claude's side closes: the SDK waits for the calls in flight
    before it ends the session, and a parked recv must not be waited for.
    """

    def __init__(self, stream, at_end):
        self.stream = stream
        self.reader = BufferedByteReceiveStream(stream)
        self.at_end = at_end

    async def __aiter__(self):
        while True:
            try:
                line = await self.reader.receive_until(b"\n", MAX_LINE)
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
                self.at_end()
                return
            yield line.decode("utf-8", "replace")

    async def write(self, text):
        try:
            await self.stream.send(text.encode())
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.at_end()       # claude went away: what it asked for is nobody's now

    async def flush(self):
        """Each write is sent whole already."""


def run(args, settings):
    journal.setup_logging("mcp", settings, settings.agent)
    path = socket_path(settings)
    role = " (manager)" if args.manager else ""
    server = build_server(path, manager=args.manager, agents_dir=settings.agents_dir)
    if args.stdio:
        log.info("serving MCP tools over stdio for %s%s", path, role)
        server.run()
        return 0
    isolation.die_with_parent()     # the harness owns us: a killed one leaves none behind
    log.info("serving MCP sessions on fd %d for %s%s", args.listen_fd, path, role)
    listening = socket.socket(fileno=args.listen_fd)
    anyio.run(serve_sessions, server, listening)
    return 0
