"""The agent role: wake claude one turn at a time and keep track of it.

Boot: write claude's three files, wait for credentials, install plugins, put
back any message a previous run took but never finished, then serve: a long
`recv` on the host socket, one claude process per message, an ack once the
turn ended well. The harness also answers `hyperhive mcp` and `hyperhive wake`
on mcp.sock and serves the agent's page.
"""

import json
import logging
import os
import shlex
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import gevent
import gevent.lock
import gevent.queue
from gevent.event import Event

from . import (claude, isolation, journal, launch, notes, permissions, prompts, repos,
               retention, verbs, wakespool)
from .client import Client, RemoteError
from .disk import DiskState
from .errors import BadArgs, Conflict, Unavailable, UnknownCmd, from_code
from .events import Bus
from .login import LoginFlow, claude_dir, has_credentials, wait_for_credentials
from .names import MANAGER
from .server import SocketServer
from .states import MODEL_RE, TurnState, next_state
from .stream import summarise
from .turnstats import TurnStats

log = logging.getLogger(__name__)

MAX_NAP = 24 * 3600
MCP_TOOL_TIMEOUT_MS = 240_000
# A failed turn's notice to the manager: its note and claude's last 20 stderr lines, cut
# so that all of it stays inside the host's 32 KiB bound on a notice.
NOTICE_NOTE_CHARS = 4000
NOTICE_LINE_CHARS = 1000
# How long the harness waits before asking again a host that answered `unavailable`
# (a full disk, a socket at its connection cap).
HOST_BUSY_SECONDS = 5
# The harness's own files: in its harness dir, where claude cannot write.
HARNESS_FILES = ("hyperhive-events.sqlite", "hyperhive-turn-stats.sqlite", "hyperhive-model",
                 "hyperhive-session", "hyperhive-nap")
# In the hive dir, first on claude's PATH: `hyperhive` for claude's shell (`hyperhive wake`).
SHELL_BIN_DIR = "bin"

# The harness will not run its agent.json: the host rolls a new config back on it.
EXIT_CONFIG_REFUSED = 3
CONFIG_ERROR_CHARS = 500     # of the sentence that says why (the host takes 2,000 bytes)


class Harness:
    def __init__(self, options):
        self.name = options.name
        self.is_manager = options.manager or options.name == MANAGER
        self.hive_dir = Path(options.hive_dir)
        self.state_dir = Path(options.state_dir)
        self.harness_dir = Path(options.harness_dir or self.state_dir.parent / "harness")
        self.claude_ids = options.claude_ids
        self.claude_bin = options.claude_bin
        self.web_addr = options.web
        self._unix_sockets = None
        self.config = load_config()
        self.config_sha = config_sha_from_env()
        self.host = Client(self.hive_dir / "broker.sock")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.harness_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        move_harness_files(self.state_dir, self.harness_dir)
        # One state for the harness dir's disk: a full one is logged once, not per write.
        self.disk = DiskState(f"the disk of {self.harness_dir}", self.harness_dir)
        self.bus = Bus(self.harness_dir / "hyperhive-events.sqlite", disk=self.disk)
        self.stats = TurnStats(self.harness_dir / "hyperhive-turn-stats.sqlite", disk=self.disk)
        self.retention_days = retention.days_from_env()
        self._host_busy = False
        self.notes = notes.Notes(self.state_dir, notes.limit_from_env())
        self.login = LoginFlow(self)
        self.state = TurnState.IDLE
        self.state_since = time.time()
        self.status = "loading"
        model = self._read("hyperhive-model")
        self.model = (model if model and MODEL_RE.match(model) else None) \
            or self.config.get("model") or "haiku"
        self.session_id = self._read("hyperhive-session")
        self.nap_until = _float(self._read("hyperhive-nap"))
        self.turn = None
        self.usage = {}
        self.last_turn = None
        self._inflight = set()
        self._operator_cancel = False
        self._wakeup = Event()
        self._stopping = False
        # One claude at a time on the session: a turn waits for an operator's compaction.
        self._session_lock = gevent.lock.BoundedSemaphore()
        # State reports go to the host in order, but never hold up a turn.
        self._reports = gevent.queue.Queue()
        gevent.spawn(self._send_reports)
        # Acks go to the host behind the turn, so the next message is not kept waiting
        # for the host's commit; anything that puts messages back waits for them first.
        self._acks = gevent.queue.JoinableQueue()
        gevent.spawn(self._send_acks)

    # -- small persistent files -------------------------------------------------

    def _read(self, name):
        try:
            return (self.harness_dir / name).read_text().strip() or None
        except OSError:
            return None

    def _write(self, name, value):
        path = self.harness_dir / name
        if value is None:
            path.unlink(missing_ok=True)
            return
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(f"{value}\n")
            os.replace(tmp, path)
        except OSError as exc:
            # The value lives on in memory; on a full disk the next start forgets it.
            tmp.unlink(missing_ok=True)
            if not self.disk.failed(exc):
                raise
            return
        self.disk.wrote()

    # -- boot --------------------------------------------------------------------

    def write_claude_files(self):
        self.hive_dir.mkdir(parents=True, exist_ok=True)
        files = {
            claude.MCP_CONFIG_FILE: json.dumps(self.mcp_config(), indent=2),
            claude.SETTINGS_FILE: json.dumps(self.settings(), indent=2),
            claude.SYSTEM_PROMPT_FILE: prompts.system_prompt(
                self.name, self.is_manager, _agents_dir(),
                self.notes.limit),
        }
        for name, text in files.items():
            tmp = self.hive_dir / f".{name}.tmp"
            tmp.unlink(missing_ok=True)
            # The harness's, readable by claude and never writable by it.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "w") as f:
                os.fchmod(f.fileno(), 0o644)
                f.write(text)
            os.replace(tmp, self.hive_dir / name)
        self.write_shell_command()

    def write_shell_command(self):
        """`hyperhive` on claude's PATH: a script that runs this same hyperhive.

        Claude's shell has no way to know where (and on which Python) the harness's
        hyperhive lives; the harness does, on every backend, from inside the container.
        """
        bin_dir = self.hive_dir / SHELL_BIN_DIR
        bin_dir.mkdir(mode=0o755, exist_ok=True)
        os.chmod(bin_dir, 0o755)
        script = ("#!/bin/sh\n# Written by the hyperhive harness at each start.\n"
                  f"exec {shlex.join(launch.entry_argv())} \"$@\"\n")
        tmp = bin_dir / ".hyperhive.tmp"
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755)
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o755)
            f.write(script)
        os.replace(tmp, bin_dir / "hyperhive")

    def mcp_config(self):
        command, *args = launch.entry_argv()
        args += ["mcp", "--hive-dir", str(self.hive_dir)]
        if self.is_manager:
            args.append("--manager")
        env = {"HYPERHIVE_HIVE_DIR": str(self.hive_dir), "HYPERHIVE_AGENT": self.name}
        if self.is_manager:
            # where the manager sees the agents' repos, for the paths its tools name
            env["HYPERHIVE_AGENTS_DIR"] = _agents_dir()
        servers = {"hyperhive": {
            "type": "stdio", "command": command, "args": args, "env": env,
            "timeout": MCP_TOOL_TIMEOUT_MS}}
        for key, spec in (self.config.get("extra_mcp_servers") or {}).items():
            if key == "hyperhive" or not isinstance(spec, dict) or "command" not in spec:
                log.warning("ignoring extra MCP server %r", key)
                continue
            servers[key] = {"type": "stdio", "command": spec["command"],
                            "args": list(spec.get("args") or []),
                            "env": dict(spec.get("env") or {})}
        return {"mcpServers": servers}

    def builtins(self):
        return list(claude.DEFAULT_BUILTINS)

    def allowed_rules(self, builtins=None):
        """Exactly agent.json's permissions (SPEC §12), for `--allowedTools` and the settings."""
        return permissions.allowed_rules(
            self.builtins() if builtins is None else builtins,
            self.config.get("allowed_bash_patterns"), self._rule_dirs(),
            permissions.mcp_rules(self.config.get("extra_mcp_servers")))

    def settings(self):
        patterns = self.config.get("allowed_bash_patterns") or []
        for pattern in patterns if isinstance(patterns, list) else [patterns]:
            problem = permissions.bash_pattern_problem(pattern)
            if problem:
                log.warning("agent.json: %s; left out of the Bash rules", problem)
        plugins = self.config.get("claude_plugins") or []
        return permissions.settings(self.allowed_rules(), self._write_dirs(),
                                    self.allowed_domains(),
                                    plugins if isinstance(plugins, list) else [],
                                    hidden_dirs=[os.path.realpath(claude_dir())],
                                    unix_sockets=self.shell_may_use_unix_sockets())

    def shell_may_use_unix_sockets(self):
        """Whether claude's Bash may connect unix sockets (`hyperhive wake` needs it).

        With unix sockets allowed, Claude Code drops its seccomp filter, which also kept
        Bash from making user namespaces (and with one, from undoing the sandbox's
        read-only binds); bubblewrap's `--disable-userns` then does that instead. Where
        that fails (an older bubblewrap; inside systemd-nspawn, whose /proc/sys is
        read-only) the filter stays, and Bash's `hyperhive wake` uses the wake spool.
        """
        if self._unix_sockets is None:
            bwrap = shutil.which("bwrap", path=self.claude_env().get("PATH"))
            self._unix_sockets = bwrap_disables_userns(bwrap, self.as_claude([]))
            if not self._unix_sockets:
                log.warning("bubblewrap (%s) cannot disable user namespaces here (it needs "
                            "0.8.0 or later, not setuid, and a writable /proc/sys): claude's "
                            "shell gets no unix sockets; its `hyperhive wake` goes "
                            "through the wake spool",
                            bwrap or "not found")
        return self._unix_sockets

    def allowed_domains(self):
        domains, problems = permissions.usable_domains(self.config.get("allowed_domains"))
        for problem in problems:
            log.warning("agent.json: %s; left out of the sandbox's network", problem)
        return domains

    def _rule_dirs(self):
        """Where Read/Edit/Write may go: the state dir; the manager also edits config repos."""
        dirs = [os.path.realpath(self.state_dir)]
        if self.is_manager:
            dirs.append(os.path.join(os.path.realpath(_agents_dir()), "*", "config"))
        return dirs

    def _write_dirs(self):
        # The sandbox binds real paths and expands no `*`: the config repos that exist
        # now, which is why the manager's settings are rewritten before each turn.
        dirs = [os.path.realpath(self.state_dir)]
        if self.is_manager:
            agents = Path(os.path.realpath(_agents_dir()))
            dirs += sorted(str(p) for p in agents.glob("*/config") if p.is_dir())
        return dirs

    def claude_env(self):
        env = {k: v for k, v in os.environ.items()
               if k not in ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "CLAUDE_CODE_SESSION_ID",
                            "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
        env.setdefault("DISABLE_AUTOUPDATER", "1")
        # `hyperhive wake` from claude's shell finds the harness socket and the command.
        env.pop("HYPERHIVE_SOCK", None)
        env["HYPERHIVE_HIVE_DIR"] = str(self.hive_dir)
        # ...or, where its sandbox keeps unix sockets closed, the spool the harness watches.
        env["HYPERHIVE_WAKE_SPOOL"] = str(Path(self.state_dir) / wakespool.SPOOL_DIR)
        env["PATH"] = os.pathsep.join(
            [str(self.hive_dir / SHELL_BIN_DIR), env.get("PATH") or "/usr/bin:/bin"])
        # The agent's uid has no passwd entry: these say who and where it is.
        env.setdefault("USER", self.name)
        env.setdefault("LOGNAME", self.name)
        return env

    def as_claude(self, argv):
        """A command line that runs as claude's uid (when the harness has one for it)."""
        if self.claude_ids is None:
            return list(argv)
        return [*isolation.setpriv_argv(*self.claude_ids), *argv]

    def install_plugins(self):
        env = self.claude_env()
        for source in self.config.get("claude_marketplaces") or []:
            self._plugin_step(["plugin", "marketplace", "add", source], source, env)
        for spec in self.config.get("claude_plugins") or []:
            self._plugin_step(["plugin", "install", spec], spec, env)

    def _plugin_step(self, args, spec, env):
        rc, out, err = claude.run_plugin_command(self.claude_bin, args, env,
                                                 prefix=self.as_claude([]))
        if rc == 0:
            self.bus.emit("note", text=f"claude {' '.join(args)}: ok", level="info")
            return
        detail = (err or out or f"exit {rc}").strip()[-2000:]
        log.warning("claude %s failed: %s", " ".join(args), detail)
        self.bus.emit("note", text=f"claude {' '.join(args)} failed: {detail}", level="error")
        self._tell_manager("plugin_install_failed", spec=spec, command=" ".join(args),
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
        self._report(turn_state=self.state.value, turn_state_since=self.state_since,
                     turn_state_until=until)

    def set_status(self, status):
        if status == self.status:
            return
        self.status = status
        self.bus.emit("status_changed", status=status)
        journal.event(log, "status_changed", f"status {status}", HIVE_STATUS=status)
        # With the commit the host started us on: that commit's rollout waits for this.
        self._report(status=status, needs_login=status.startswith("needs_login"),
                     config_sha=self.config_sha)

    def set_model(self, model):
        if not isinstance(model, str) or not MODEL_RE.match(model):
            raise BadArgs("a model is a name like haiku, sonnet, opus or a full model id")
        self.model = model
        self._write("hyperhive-model", model)
        self.bus.emit("model_changed", model=model)
        self._report(model=model)
        return model

    def new_session(self):
        self.session_id = None
        self._write("hyperhive-session", None)
        self.bus.emit("note", text="the next turn starts a fresh session", level="info")

    def snapshot(self):
        return {"name": self.name, "manager": self.is_manager, "status": self.status,
                "turn_state": self.state.value, "turn_state_since": self.state_since,
                "nap_until": self.nap_until if self.state == TurnState.NAPPING else None,
                "model": self.model, "session_id": self.session_id, "usage": self.usage,
                "last_turn": self.last_turn, "login": self.login.snapshot(),
                "seq": self.bus.last_seq()}

    def _report(self, **fields):
        self._reports.put({k: v for k, v in fields.items() if v is not None})

    def config_problem(self):
        """Why this harness cannot run its agent.json, as a sentence; None when it can."""
        return config_problem(self.config, self.claude_env().get("PATH", os.defpath),
                              self.state_dir)

    def refuse_config(self, problem):
        """Tell the host why we will not run this config, then exit with that code."""
        log.error("refusing to run agent.json: %s", problem)
        try:
            self.host.call("report", timeout=5, config_error=problem[:CONFIG_ERROR_CHARS],
                           **({"config_sha": self.config_sha} if self.config_sha else {}))
        except (OSError, ValueError, RemoteError, ConnectionError) as exc:
            log.warning("could not tell the host why: %s", exc)
        return EXIT_CONFIG_REFUSED

    def _send_reports(self):
        for fields in self._reports:
            try:
                self.host.call("report", timeout=5, **fields)
            except (OSError, ValueError, RemoteError, ConnectionError):
                pass    # the host shows what it last heard; the next change reports again

    def _send_acks(self):
        for ids in self._acks:
            try:
                if self._stopping:   # one try: the host may be stopping too
                    self.host.call("ack", timeout=5, ids=ids)
                else:
                    self._host_call("ack", ids=ids)
            except (OSError, ValueError, RemoteError, ConnectionError) as exc:
                log.warning("could not ack %s (%s); they come back flagged", ids, exc)
            finally:
                self._acks.task_done()

    def flush_acks(self, timeout=None):
        """Wait until every queued ack has reached the host (or given up)."""
        self._acks.join(timeout)

    def _requeue(self):
        self.flush_acks()
        self._host_call("requeue")

    def _tell_manager(self, event, **detail):
        if self.is_manager:
            return
        try:
            self.host.call_retrying("notify_manager", timeout=10, event=event, detail=detail)
        except (OSError, ValueError, RemoteError, ConnectionError):
            log.warning("could not tell the manager about %s", event)

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
        self._report(turn_state=self.state.value, turn_state_since=self.state_since,
                     model=self.model, needs_login=not has_credentials())
        self.wait_for_login()
        if self._stopping:
            return
        self.install_plugins()
        self._requeue()
        self.set_status("online")
        self._report(needs_login=False)
        while not self._stopping:
            self.sleep_out_nap()
            reply = self._host_call("recv", wait_seconds=180, max=1, timeout=210) or {}
            for message in reply.get("messages", []):
                self.handle(message, reply.get("unread", 0))
            self.tidy_notes()

    def _host_call(self, cmd, timeout=30, **fields):
        """A host call that outlasts host restarts: retries, then waits and tries again."""
        while not self._stopping:
            try:
                reply = self.host.call_retrying(cmd, timeout=timeout, **fields)[0]
                if self._host_busy:
                    log.info("host takes %s again", cmd)
                    self._host_busy = False
                return reply
            except RemoteError as exc:
                if exc.code != "unavailable":
                    log.error("host refused %s: %s", cmd, exc)
                    return None
                # A full disk on the host, say: it passes, so ask again, logged once.
                if not self._host_busy:
                    log.warning("host cannot take %s now (%s); asking again every %d s",
                                cmd, exc, HOST_BUSY_SECONDS)
                self._host_busy = True
                gevent.sleep(HOST_BUSY_SECONDS)
                continue
            except (OSError, ValueError, ConnectionError) as exc:
                log.warning("host unreachable for %s (%s); trying again", cmd, exc)
                gevent.sleep(5)
        return None

    def wait_for_login(self):
        if has_credentials():
            return
        self.set_status("needs_login_idle")
        self._tell_manager("needs_login")
        while not has_credentials() and not self._stopping:
            wait_for_credentials(self._wakeup)
            self._wakeup.clear()

    def sleep_out_nap(self):
        if not self.nap_until or self.nap_until <= time.time():
            self._clear_nap()
            return
        if self.state != TurnState.NAPPING:
            self.set_state(TurnState.NAPPING, until=self.nap_until)
        self._wakeup.clear()
        self._wakeup.wait(max(0, self.nap_until - time.time()))
        cut_short = self.nap_until is None
        self._clear_nap()
        if not self._stopping:
            self.bus.emit("note", level="info", text="nap ended by the operator" if cut_short
                          else "nap over: taking messages again")

    def _clear_nap(self):
        if self.nap_until is not None:
            self.nap_until = None
            self._write("hyperhive-nap", None)
        if self.state == TurnState.NAPPING:
            self.set_state(TurnState.IDLE)

    def nap(self, seconds):
        if not isinstance(seconds, (int, float)) or not 0 < seconds <= MAX_NAP:
            raise BadArgs(f"`seconds` must be between 0 and {MAX_NAP}")
        self.nap_until = time.time() + seconds
        self._write("hyperhive-nap", self.nap_until)
        until = time.strftime("%H:%M:%S", time.localtime(self.nap_until))
        return {"until": self.nap_until,
                "text": f"napping until {until} ({int(seconds)}s): finish this turn; new "
                        "messages wait in the inbox until then (the operator can wake you)"}

    def cancel(self):
        """The operator's cancel: the running turn (SIGINT to claude) or the nap."""
        if self.turn is not None:
            self._operator_cancel = True
            self.turn.cancel()
            self.bus.emit("note", text="turn cancelled by the operator", level="warn")
            return "turn"
        if self.nap_until:
            self.nap_until = None
            self._write("hyperhive-nap", None)
            self._wakeup.set()
            return "nap"
        raise Conflict("there is no turn or nap to cancel")

    # -- one message, one turn ----------------------------------------------------------

    def handle(self, message, unread=0):
        with self._session_lock:
            self._handle(message, unread)

    def _handle(self, message, unread):
        self._inflight = {message["id"]}
        self._operator_cancel = False
        started = time.time()
        self.bus.emit("turn_start", **{"from": message["from"], "body": message["body"][:4000],
                                       "unread": unread, "redelivered": message["redelivered"],
                                       "id": message["id"]})
        journal.event(log, "turn_start", f"turn for message #{message['id']} from "
                      f"{message['from']}", HIVE_FROM=message["from"])
        self.set_state(TurnState.THINKING)
        result = self.drive_turn(prompts.wake_prompt(message, unread))
        outcome = result.outcome
        if outcome == "ok" or (outcome == "cancelled" and self._operator_cancel):
            self._acks.put(sorted(self._inflight))
        self.finish_turn(message, result, started, inbox_depth=unread)
        if outcome == "failed":
            self._tell_manager("turn_failed", message_id=message["id"],
                               note=(result.note or "")[:NOTICE_NOTE_CHARS],
                               stderr=[line[:NOTICE_LINE_CHARS]
                                       for line in result.stderr_tail[-20:]])
        elif outcome == "rate_limited":
            self.park("rate_limited", float(os.environ.get("HYPERHIVE_RATE_LIMIT_SLEEP", 300)))
        elif outcome == "auth_failed":
            self.park_for_login()

    def drive_turn(self, prompt):
        result = self.run_claude(prompt)
        if result.outcome == "failed" and "No conversation found" in (result.note or ""):
            self.new_session()
            result = self.run_claude(prompt)
        if result.outcome != "prompt_too_long" or self._stopping:
            return result
        if self.session_id:
            self.set_state(TurnState.COMPACTING)
            compacted = self.compact_session()
            self.set_state(TurnState.THINKING)
            if compacted.outcome == "ok":
                result = self.run_claude(prompt)
        if result.outcome == "prompt_too_long" and self.session_id:
            self.bus.emit("note", text="still too long after compacting: starting a fresh "
                          "session", level="warn")
            self.new_session()
            result = self.run_claude(prompt)
        return result

    def run_claude(self, prompt):
        if self.is_manager:
            self.write_claude_files()   # the sandbox must see repos spawned since boot
        argv = claude.build_argv(self.claude_bin, self.model, self.session_id,
                                 hive_dir=str(self.hive_dir), builtins=self.builtins(),
                                 allowed=self.allowed_rules())
        turn = claude.ClaudeTurn(self.as_claude(argv), prompt, cwd=str(self.state_dir),
                                 env=self.claude_env(), on_event=self._on_stream,
                                 on_stderr=self._on_stderr)
        self.turn = turn
        try:
            result = turn.run()
        finally:
            self.turn = None
        self._keep_session(result.session_id)
        return result

    def compact_session(self):
        argv = claude.compact_argv(self.claude_bin, self.model, self.session_id,
                                   hive_dir=str(self.hive_dir), builtins=self.builtins(),
                                   allowed=self.allowed_rules())
        result = claude.run_compact(self.as_claude(argv), cwd=str(self.state_dir),
                                    env=self.claude_env(), on_event=self._on_stream,
                                    on_stderr=self._on_stderr)
        self._keep_session(result.session_id)
        level = "info" if result.outcome == "ok" else "warn"
        self.bus.emit("note", text=f"compaction {result.outcome}: {result.note or 'done'}",
                      level=level)
        return result

    def compact_now(self):
        """The operator's compact button: only between turns, and it answers at once.

        The compaction runs on its own; its progress and outcome reach the page as
        stream rows and a note, like a turn's.
        """
        if self.state != TurnState.IDLE or self.turn is not None:
            raise Conflict(f"the agent is {self.state.value}; compact when it is idle")
        if not self.session_id:
            raise Conflict("there is no session to compact yet")
        if not self._session_lock.acquire(blocking=False):
            raise Conflict("a turn is starting; compact when it is idle")
        self.set_state(TurnState.COMPACTING)
        gevent.spawn(self._compact_and_release)
        return "started"

    def _compact_and_release(self):
        try:
            self.compact_session()
        finally:
            self.set_state(TurnState.IDLE)
            self._session_lock.release()

    def tidy_notes(self):
        """Between turns: once notes.md has outgrown its limit, have it rewritten."""
        if self._stopping:
            return
        with self._session_lock:
            if not self.notes.due():
                return
            try:
                self._compact_notes()
            except Exception as exc:   # housekeeping must never end the serve loop
                log.exception("notes compaction failed")
                self.bus.emit("note", text=f"notes compaction failed: {exc}", level="warn")

    def _compact_notes(self):
        before, limit, path = notes.size(self.notes.path), self.notes.limit, self.notes.path
        self.notes.tried_at = before
        self.set_state(TurnState.COMPACTING)
        try:
            self.bus.emit("note", text=notes.started_text(before, limit), level="info")
            notes.backup(path)
            result = self._run_notes_claude(notes.compaction_prompt(path, before, limit))
        finally:
            self.set_state(TurnState.IDLE)
        after = notes.size(path)
        self.notes.tried_at = after or 0
        failure = result.note if result.outcome != "ok" else None
        ok, text = notes.ended(before, after, limit, failure)
        self.bus.emit("note", text=text, level="info" if ok else "warn")
        journal.event(log, "notes_compacted", text, level=logging.INFO if ok else logging.WARNING,
                      HIVE_OUTCOME="ok" if ok else "failed", HIVE_BEFORE_BYTES=before,
                      HIVE_AFTER_BYTES=after or 0)

    def _run_notes_claude(self, prompt):
        # Its own fresh session: the agent's session id and file stay the turn's.
        argv = notes.compaction_argv(self.claude_bin, self.model, str(self.hive_dir),
                                     self.allowed_rules(notes.TOOLS))
        turn = claude.ClaudeTurn(self.as_claude(argv), prompt, cwd=str(self.state_dir),
                                 env=self.claude_env(), on_event=self._on_stream,
                                 on_stderr=self._on_stderr, require_hyperhive=False)
        self.turn = turn    # so a stop or the operator's cancel reaches it
        try:
            return turn.run()
        finally:
            self.turn = None

    def _keep_session(self, session_id):
        if session_id and session_id != self.session_id:
            self.session_id = session_id
            self._write("hyperhive-session", session_id)

    def _on_stream(self, event):
        summary = summarise(event)
        if summary is not None:
            self.bus.emit("stream", **summary)

    def _on_stderr(self, line):
        self.bus.emit("note", text=line, level="stderr")
        log.warning("claude: %s", line)

    def finish_turn(self, message, result, started, inbox_depth=None):
        """End the turn for everyone watching first, then write its statistics.

        `inbox_depth` is the recv reply's `unread`: what was still waiting when the
        turn began, besides its own message.
        """
        ended = time.time()
        usage = result.usage or {}
        cost = self._turn_cost(result)
        self.usage = {"ctx": result.ctx_tokens, "input": usage.get("input_tokens", 0),
                      "output": usage.get("output_tokens", 0),
                      "cache_read": usage.get("cache_read_input_tokens", 0),
                      "cache_write": usage.get("cache_creation_input_tokens", 0),
                      "cost_usd": cost}
        self.bus.emit("token_usage_changed", **self.usage)
        self.last_turn = {"at": ended, "duration_ms": result.duration_ms,
                          "outcome": result.outcome}
        self.bus.emit("turn_end", outcome=result.outcome, duration_ms=result.duration_ms,
                      note=result.note or "")
        journal.event(log, "turn_end", f"turn {result.outcome} in {result.duration_ms} ms",
                      level=logging.INFO if result.outcome == "ok" else logging.WARNING,
                      HIVE_OUTCOME=result.outcome, HIVE_DURATION_MS=result.duration_ms,
                      HIVE_INPUT_TOKENS=usage.get("input_tokens", 0),
                      HIVE_OUTPUT_TOKENS=usage.get("output_tokens", 0),
                      HIVE_NOTE=result.note or "")
        self.set_state(TurnState.IDLE)
        self._report(last_turn_at=ended)
        threads = self._host_call("status") or {}
        row_id = self.stats.record(started_at=started, ended_at=ended, duration_ms=result.duration_ms,
                          model=self.model, wake_from=message["from"], result_kind=result.outcome,
                          note=result.note or None, tool_calls=result.tool_calls,
                          tool_call_count=sum(result.tool_calls.values()),
                          open_threads_count=threads.get("open_threads"),
                          open_reminders_count=threads.get("pending_reminders"),
                          session_id=result.session_id, session_cost_usd=result.total_cost_usd,
                          inbox_depth=inbox_depth, sends=result.sends,
                          notes_bytes=notes.size(self.notes.path),
                          cost_usd=cost, **{k: usage.get(k, 0) or 0 for k in (
                              "input_tokens", "output_tokens", "cache_read_input_tokens",
                              "cache_creation_input_tokens")})
        # The turn's row is in the stats file now: the stats page may read it.
        self.bus.emit("turn_stats", id=row_id, outcome=result.outcome)

    def _turn_cost(self, result):
        total = result.total_cost_usd
        if total is None:
            return 0.0
        before = self.stats.last_session_cost(result.session_id) if result.session_id else None
        return round(max(0.0, total - (before or 0.0)), 6)

    def park(self, status, seconds):
        """Stop taking messages for a while; the unfinished one comes back afterwards."""
        self.set_status(status)
        self.bus.emit("note", text=f"{status}: resting {int(seconds)}s before retrying",
                      level="warn")
        self._wakeup.clear()
        self._wakeup.wait(seconds)
        if self._stopping:
            return
        self._requeue()
        self.set_status("online")

    def park_for_login(self):
        self.set_status("needs_login_idle")
        self._tell_manager("needs_login")
        self._wakeup.clear()
        wait_for_credentials(self._wakeup, require_change=True)
        if self._stopping:
            return
        self._requeue()
        self.set_status("online")

    # -- mcp.sock ------------------------------------------------------------------------

    def stop(self):
        self._stopping = True
        self._wakeup.set()
        if self.turn is not None:
            self.turn.cancel()
        if getattr(self, "terminal", None) is not None:    # set by terminal.install
            self.terminal.close()


class HarnessEndpoint:
    """mcp.sock: broker verbs go to the host as they are; nap and whoami stay here."""

    FORWARD = verbs.forwarded("agent")
    MANAGER_FORWARD = verbs.forwarded("manager")

    def __init__(self, harness):
        self.harness = harness
        self.forward = set(self.FORWARD) | (set(self.MANAGER_FORWARD)
                                            if harness.is_manager else set())

    def hello(self):
        return {"role": "harness", "name": self.harness.name,
                "cmds": sorted([*self.forward, "nap", "whoami", "hello"])}

    def dispatch(self, request):
        cmd = request.get("cmd")
        if cmd == "nap":
            return self.harness.nap(request.get("seconds"))
        if cmd == "whoami":
            return {"name": self.harness.name,
                    "role": "manager" if self.harness.is_manager else "agent"}
        if cmd not in self.forward:
            raise UnknownCmd(f"unknown cmd {str(cmd)[:40]!r}")
        return self._forward(request)

    def _forward(self, request):
        """Pass one request to the host, riding out a host restart as the wire rule says.

        The reply carries `retries` when the host link needed any, so the tool result
        can tell claude the slow answer was the hive's hiccup, not its content.
        """
        cmd, fields = request.get("cmd"), {k: v for k, v in request.items() if k != "cmd"}
        wait = request.get("wait_seconds") if cmd == "recv" else 0
        timeout = min(float(wait or 0), 180) + 30 if isinstance(wait, (int, float)) else 30
        try:
            reply, retries = self.harness.host.call_retrying(cmd, timeout=timeout, **fields)
        except RemoteError as exc:
            raise from_code(exc.code, str(exc)) from None
        except (OSError, ValueError, ConnectionError) as exc:
            raise Unavailable(f"the host is not answering ({exc}) after retrying for a "
                              "minute; try again shortly") from None
        if cmd == "recv":
            self.harness._inflight.update(m["id"] for m in reply.get("messages", []))
        out = {k: v for k, v in reply.items() if k not in ("ok", "v")}
        if retries:
            out["retries"] = retries
        return out

    def can_stream(self, request):
        return False

    def undeliver(self, ids):
        # claude's tool process went away before it read these: they are not in flight.
        self.harness._inflight.difference_update(ids)
        try:
            self.harness.host.request({"cmd": "undeliver", "ids": list(ids)}, timeout=10)
        except (OSError, ValueError, ConnectionError):
            pass


def bwrap_disables_userns(bwrap, prefix=()):
    """Whether this bubblewrap, run through `prefix` (claude's uid), really forbids user
    namespaces in its sandbox: it needs 0.8.0 and a writable /proc/sys, which a
    systemd-nspawn container does not have."""
    try:
        if bwrap is None or os.stat(bwrap).st_mode & stat.S_ISUID:
            return False
        trial = subprocess.run([*prefix, bwrap, "--ro-bind", "/", "/", "--unshare-user",
                                "--disable-userns", "--", "/bin/true"],
                               capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return trial.returncode == 0


def config_sha_from_env():
    """The applied commit the host started this harness on (HYPERHIVE_CONFIG_SHA)."""
    sha = os.environ.get("HYPERHIVE_CONFIG_SHA", "").strip()
    return sha if len(sha) == 40 and all(c in "0123456789abcdef" for c in sha) else None


def config_problem(config, path, state_dir):
    """What in agent.json this harness cannot run, as a sentence; None when all is well.

    The host checks agent.json's types when a commit is approved (repos.check_config).
    Whether an extra MCP server's command exists is a fact of the agent's own machine
    (in a container, of the packages its agent.nix installs), so it is judged here, at
    boot; claude would otherwise start without the server's tools and say nothing.
    """
    servers = config.get("extra_mcp_servers")
    servers = {} if servers is None else servers
    if not isinstance(servers, dict):
        return "`extra_mcp_servers` must be an object of servers"
    for key, spec in servers.items():
        problem = repos.server_problem(key, spec)     # the host's check at approval
        if problem:
            return problem
        if not _runnable(spec["command"], path, state_dir):
            return (f"extra MCP server {key[:64]!r}: its command {spec['command'][:200]!r} "
                    "is not an executable file here, nor a program on the agent's PATH")
    return None


def _runnable(command, path, state_dir):
    if "/" not in command:
        return shutil.which(command, path=path) is not None
    full = Path(state_dir) / command      # claude runs in the state dir
    return full.is_file() and os.access(full, os.X_OK)


def load_config():
    path = os.environ.get("HYPERHIVE_AGENT_CONFIG", "/etc/hyperhive/agent.json")
    try:
        data = json.loads(Path(path).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def move_harness_files(state_dir, harness_dir):
    """Once: bring the harness's files from the state dir (where they used to live) home.

    Only on the harness's first start with a harness dir: after that whatever claude
    leaves in its state dir under those names is its own business. The state dir is
    claude's, so what is found there is moved first and judged after, in the harness
    dir where claude cannot swap it: anything but a plain file is dropped.
    """
    marker = harness_dir / ".moved-from-state"
    if marker.exists():
        return
    for name in HARNESS_FILES:
        for suffix in ("", "-wal", "-shm"):
            old, new = state_dir / (name + suffix), harness_dir / (name + suffix)
            if new.exists() or new.is_symlink() or not old.is_file() or old.is_symlink():
                continue
            try:
                shutil.move(old, new)     # copyfile refuses a FIFO swapped in meanwhile
                st = os.lstat(new)
                if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                    new.unlink()
                    continue
                os.chown(new, os.geteuid(), os.getegid())
                os.chmod(new, 0o600)
            except OSError as exc:
                log.warning("could not move %s to the harness dir: %s", old, exc)
    marker.touch()


def load_env_file(path):
    """A container's harness takes its environment (credentials too) from a file, not argv."""
    if not path:
        return
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object")
    os.environ.update({str(k): str(v) for k, v in data.items()})


def _agents_dir():
    """Where the manager sees the agents' dirs (their config repos)."""
    return os.environ.get("HYPERHIVE_AGENTS_DIR", "/agents")


def _float(text):
    try:
        return float(text) if text else None
    except ValueError:
        return None


def run(options):
    os.umask(0o077)
    load_env_file(options.env_file)
    role = "manager" if options.manager or options.name == MANAGER else "agent"
    journal.setup_logging(role, agent=options.name)
    harness = Harness(options)
    problem = harness.config_problem()
    if problem:
        return harness.refuse_config(problem)
    harness.write_claude_files()
    endpoint = HarnessEndpoint(harness)
    mcp = SocketServer(harness.hive_dir / "mcp.sock", endpoint, mode=0o600)
    if harness.claude_ids is not None:
        # claude's `hyperhive mcp` and `hyperhive wake` connect here, as its group.
        os.chown(mcp.path, os.geteuid(), harness.claude_ids[1])
        os.chmod(mcp.path, 0o660)
    mcp.start()
    web = None
    if options.web:
        from . import agentweb
        web = agentweb.serve(harness, options.web)
    stop = Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, stop.set)
    loop = gevent.spawn(harness.serve)
    pruner = gevent.spawn(retention.daily, harness.prune, "the events and turn stats")
    spool = wakespool.WakeSpool(harness.state_dir, endpoint.dispatch)
    spooler = gevent.spawn(spool.serve) if spool.opened() else None
    loop.link(lambda g: stop.set())
    stop_watchdog = journal.start_watchdog()
    journal.notify("READY=1", f"STATUS={harness.status}")
    log.info("harness for %s ready (model %s)", harness.name, harness.model)
    stop.wait()
    journal.notify("STOPPING=1")
    harness.stop()
    # A running turn gets a moment to end on its SIGINT; a parked recv is simply dropped.
    loop.join(timeout=8 if harness.turn is not None else 0.5)
    loop.kill()
    pruner.kill()
    if spooler is not None:
        spooler.kill()
    spool.close()
    harness.flush_acks(timeout=5)
    mcp.stop()
    if web is not None:
        web.stop(timeout=1)
    stop_watchdog()
    harness.set_status("offline")
    if loop.exception is not None and not isinstance(loop.exception, gevent.GreenletExit):
        log.error("the serve loop died: %r", loop.exception)
        return 1
    return 0
