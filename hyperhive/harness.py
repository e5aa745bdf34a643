"""The agent role: wake claude one turn at a time and keep track of it.

Boot: write claude's three files, wait for credentials, install plugins, put
back any message a previous run took but never finished, then serve: a long
`recv` on the host socket, one claude process per message, an ack once the
turn ended well. The harness also answers the MCP server's tool calls and
`hyperhive wake` on mcp.sock, keeps claude's warm MCP server running (toolserver)
and serves the agent's page.

The parts: claudesetup (claude's files, env and uid), turns (running a turn),
retries (a failed turn's next attempt, and the failed list), naps (the waits between
turns), hostlink (the host socket), agentsocket (mcp.sock).
"""

import logging
import os
import signal
import time
from pathlib import Path

import gevent
from gevent.event import Event

from . import claude, journal, notes, retention, wakespool
from .agentsocket import HarnessEndpoint
from .bootconfig import EXIT_CONFIG_REFUSED, load_config
from .claudesetup import ClaudeSetup
from .client import Client
from .disk import DiskState
from .errors import BadArgs, Conflict
from .events import Bus
from .harnessfiles import HarnessFiles, move_harness_files
from .hostlink import HostLink
from .login import LoginFlow, has_credentials
from .names import MANAGER
from .naps import Naps
from .retries import Retries
from .server import SocketServer
from .states import MODEL_RE, TurnState, next_state
from .terminal import Terminal
from .toolserver import ToolServer
from .turns import TurnDriver
from .turnstats import TurnStats

log = logging.getLogger(__name__)


class Harness:
    def __init__(self, options, settings):
        self.settings = settings
        self.name = options.name
        self.is_manager = options.manager or options.name == MANAGER
        self.hive_dir = Path(options.hive_dir)
        self.state_dir = Path(options.state_dir)
        self.harness_dir = Path(options.harness_dir or self.state_dir.parent / "harness")
        self.claude_ids = options.claude_ids
        self.claude_bin = settings.claude_bin
        self.config = load_config(settings.agent_config)
        self.config_sha = settings.config_sha
        self.stopping = Event()
        self.host = Client(self.hive_dir / "broker.sock")
        self.link = HostLink(self.host, self.is_manager, self.stopping)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.harness_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        move_harness_files(self.state_dir, self.harness_dir)
        # One state for the harness dir's disk: a full one is logged once, not per write.
        self.disk = DiskState(f"the disk of {self.harness_dir}", self.harness_dir)
        self.files = HarnessFiles(self.harness_dir, self.disk)
        self.bus = Bus(self.harness_dir / "hyperhive-events.sqlite", disk=self.disk)
        self.stats = TurnStats(self.harness_dir / "hyperhive-turn-stats.sqlite", disk=self.disk)
        self.retention_days = settings.retention_days
        self.notes = notes.Notes(self.state_dir, settings.notes_limit)
        self.setup = ClaudeSetup(self.name, self.is_manager, self.hive_dir, self.state_dir,
                                 self.config, self.claude_ids, self.notes.limit, settings)
        self.login = LoginFlow(self)
        # The agent page's shell: the harness's stop ends it.
        self.terminal = Terminal(self.state_dir, self.setup.claude_env, self.setup.as_claude,
                                 self.claude_ids)
        self.state = TurnState.IDLE
        self.state_since = time.time()
        self.status = "loading"
        model = self.files.read("hyperhive-model")
        self.model = (model if model and MODEL_RE.match(model) else None) \
            or self.config.get("model") or "haiku"
        self.session_id = self.files.read("hyperhive-session")
        self.naps = Naps(self, self.files)
        self.retries = Retries(self, self.files)
        self.turns = TurnDriver(self)

    # -- boot --------------------------------------------------------------------

    def config_problem(self):
        """Why this harness cannot run its agent.json, as a sentence; None when it can."""
        return self.setup.config_problem()

    def refuse_config(self, problem):
        """Tell the host why we will not run this config, then exit with that code."""
        log.error("refusing to run agent.json: %s", problem)
        self.link.refuse_config(problem, self.config_sha)
        return EXIT_CONFIG_REFUSED

    def install_plugins(self):
        env = self.setup.claude_env()
        for source in self.config.get("claude_marketplaces") or []:
            self._plugin_step(["plugin", "marketplace", "add", source], source, env)
        for spec in self.config.get("claude_plugins") or []:
            self._plugin_step(["plugin", "install", spec], spec, env)

    def _plugin_step(self, args, spec, env):
        rc, out, err = claude.run_plugin_command(self.claude_bin, args, env,
                                                 prefix=self.setup.as_claude([]))
        if rc == 0:
            self.bus.emit("note", text=f"claude {' '.join(args)}: ok", level="info")
            return
        detail = (err or out or f"exit {rc}").strip()[-2000:]
        log.warning("claude %s failed: %s", " ".join(args), detail)
        self.bus.emit("note", text=f"claude {' '.join(args)} failed: {detail}", level="error")
        self.link.tell_manager("plugin_install_failed", spec=spec, command=" ".join(args),
                               error=detail)

    # -- state -----------------------------------------------------------------------

    def set_state(self, wanted, until=None):
        self.state = next_state(self.state, wanted)
        self.state_since = time.time()
        fields = {"state": self.state.value, "since": self.state_since}
        if until:
            fields["until"] = until
        self.bus.emit("turn_state_changed", **fields)
        journal.event(log, "turn_state_changed", f"state {self.state.value}",
                      HIVE_STATE=self.state.value)
        self.link.report(turn_state=self.state.value, turn_state_since=self.state_since,
                         turn_state_until=until)

    def set_status(self, status):
        if status == self.status:
            return
        self.status = status
        self.bus.emit("status_changed", status=status)
        journal.event(log, "status_changed", f"status {status}", HIVE_STATUS=status)
        # With the commit the host started us on: that commit's rollout waits for this.
        self.link.report(status=status, needs_login=status.startswith("needs_login"),
                         config_sha=self.config_sha)

    def set_model(self, model):
        if not isinstance(model, str) or not MODEL_RE.match(model):
            raise BadArgs("a model is a name like haiku, sonnet, opus or a full model id")
        self.model = model
        self.files.write("hyperhive-model", model)
        self.bus.emit("model_changed", model=model)
        self.link.report(model=model)
        return model

    def new_session(self):
        self.session_id = None
        self.files.write("hyperhive-session", None)
        self.bus.emit("note", text="the next turn starts a fresh session", level="info")

    def keep_session(self, session_id):
        """The session claude reported: the next turn resumes it."""
        if session_id and session_id != self.session_id:
            self.session_id = session_id
            self.files.write("hyperhive-session", session_id)

    def snapshot(self):
        return {"name": self.name, "manager": self.is_manager, "status": self.status,
                "turn_state": self.state.value, "turn_state_since": self.state_since,
                "nap_until": self.naps.until if self.state == TurnState.NAPPING else None,
                "rate_limited_until": self.naps.rate_limited_until,
                "retry_until": self.retries.until if self.state == TurnState.RETRYING else None,
                "model": self.model, "session_id": self.session_id, "usage": self.turns.usage,
                "last_turn": self.turns.last_turn, "login": self.login.snapshot(),
                "seq": self.bus.last_seq()}

    # -- what the turn took from the inbox -----------------------------------------------

    def took(self, ids):
        """claude's recv handed it these: the turn acks them when it ends well."""
        self.turns.inflight.update(ids)

    def gave_back(self, ids):
        """claude never read these: they are not the turn's to ack."""
        self.turns.inflight.difference_update(ids)

    # -- retention -----------------------------------------------------------------------

    def prune(self, now=None, pause=retention.PAUSE_SECONDS):
        """Events and turn stats older than the retention setting, a batch per transaction."""
        before = retention.cutoff(self.retention_days, now or time.time())
        done = {"events": 0, "turn stats": 0, "batches": 0}
        if before is None:
            return done
        stores = {"events": self.bus.log, "turn stats": self.stats}
        for what, store in stores.items():
            if store is None:
                continue
            done[what], batches = retention.drain(
                lambda store=store: store.prune(before, retention.BATCH), pause)
            done["batches"] += batches
        return done

    # -- the serve loop ------------------------------------------------------------------

    def serve(self):
        self.link.report(turn_state=self.state.value, turn_state_since=self.state_since,
                         model=self.model, needs_login=not has_credentials(self.settings.environ))
        self.naps.wait_for_login()
        if self.stopping.is_set():
            return
        self.install_plugins()
        self.link.requeue()
        self.set_status("online")
        self.link.report(needs_login=False)
        while not self.stopping.is_set():
            self.naps.sleep_out()
            reply = self.link.call("recv", wait_seconds=180, max=1, timeout=210) or {}
            for message in reply.get("messages", []):
                self.handle(message, reply.get("unread", 0))
            self.turns.tidy_notes()

    def handle(self, message, unread=0):
        """One message, one turn (again after a rest while it fails, see retries.py); then
        what its outcome asks for (a rest, a login)."""
        # The session stays held through a rest, so no compaction starts during one.
        with self.turns.session_lock:
            self.retries.resume(message)
            if self.stopping.is_set():
                return
            result = self.turns.take(message, unread)
            while self.retries.after(message, result):
                result = self.turns.take(message, unread)
            if result.outcome == "rate_limited":
                self.naps.rest_after_rate_limit(result.rate_limit_reset)
            elif result.outcome == "auth_failed":
                self.naps.park_for_login()

    # -- what the operator and claude ask ------------------------------------------------

    def nap(self, seconds):
        return self.naps.nap(seconds)

    def compact_now(self):
        return self.turns.compact_now()

    def cancel(self):
        """The operator's cancel: the running turn (SIGINT to claude), the nap, or a rest
        (after a rate limit or a failed turn)."""
        if self.turns.cancel():
            self.bus.emit("note", text="turn cancelled by the operator", level="warn")
            return "turn"
        if self.naps.cancel():
            return "nap"
        if self.naps.cancel_rest():
            self.bus.emit("note", text="rate-limit rest cut short by the operator: trying "
                          "again now", level="warn")
            return "rest"
        if self.retries.interrupt():
            self.bus.emit("note", text="rest cut short by the operator: trying again now",
                          level="warn")
            return "rest"
        raise Conflict("there is no turn or nap to cancel")

    def interrupt_wait(self):
        """Cut short whatever wait the serve loop is in (a login landed, say)."""
        self.naps.interrupt()

    def stop(self):
        self.stopping.set()
        self.naps.interrupt()
        self.retries.interrupt()
        self.turns.stop()
        self.terminal.close()


def run(options, settings):
    """The harness's entry; `settings` were read after its env file was taken (cli.py)."""
    os.umask(0o077)
    role = "manager" if options.manager or options.name == MANAGER else "agent"
    journal.setup_logging(role, settings, agent=options.name)
    harness = Harness(options, settings)
    problem = harness.config_problem()
    if problem:
        return harness.refuse_config(problem)
    harness.setup.write_files()
    endpoint = HarnessEndpoint(harness)
    mcp = _serve_mcp(harness, endpoint)
    tools = _serve_tools(harness)
    web = None
    if options.web:
        from . import agentweb
        web = agentweb.serve(harness, options.web)
    stop = Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, stop.set)
    loop = gevent.spawn(harness.serve)
    helpers = [gevent.spawn(retention.daily, harness.prune, "the events and turn stats")]
    spool = wakespool.WakeSpool(harness.state_dir, endpoint.dispatch)
    if spool.opened():
        helpers.append(gevent.spawn(spool.serve))
    loop.link(lambda g: stop.set())
    stop_watchdog = journal.start_watchdog(settings)
    journal.notify(settings, "READY=1", f"STATUS={harness.status}")
    log.info("harness for %s ready (model %s)", harness.name, harness.model)
    stop.wait()
    journal.notify(settings, "STOPPING=1")
    _shut_down(harness, loop, helpers, spool)
    tools.stop()
    mcp.stop()
    if web is not None:
        web.stop(timeout=1)
    stop_watchdog()
    harness.set_status("offline")
    if loop.exception is not None and not isinstance(loop.exception, gevent.GreenletExit):
        log.error("the serve loop died: %r", loop.exception)
        return 1
    return 0


def _serve_mcp(harness, endpoint):
    mcp = SocketServer(harness.hive_dir / "mcp.sock", endpoint, mode=0o600)
    if harness.claude_ids is not None:
        # claude's `hyperhive mcp` and `hyperhive wake` connect here, as its group.
        os.chown(mcp.path, os.geteuid(), harness.claude_ids[1])
        os.chmod(mcp.path, 0o660)
    mcp.start()
    return mcp


def _serve_tools(harness):
    """claude's warm MCP server; its per-turn `hyperhive mcp` relays to it."""
    ids = harness.claude_ids
    # claude's environment: what its own MCP server was started with before.
    return ToolServer(harness.hive_dir, harness.name, harness.is_manager,
                      harness.settings.agents_dir, harness.setup.claude_env(),
                      harness.setup.as_claude, None if ids is None else ids[1]).start()


def _shut_down(harness, loop, helpers, spool):
    harness.stop()
    # A running turn gets a moment to end on its SIGINT; a parked recv is simply dropped.
    loop.join(timeout=8 if harness.turns.turn is not None else 0.5)
    loop.kill()
    for helper in helpers:
        helper.kill()
    spool.close()
    harness.link.flush_acks(timeout=5)
