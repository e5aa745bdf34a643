"""The agent's warm MCP server: one process beside the harness, kept running by it.

The harness binds `mcp-tools.sock` itself and hands the listening socket to a plain
(non-gevent) `hyperhive mcp --listen-fd N`, run as claude's uid like everything else
that reads claude's input. Binding here means a restart never drops the socket: a
relay that connects while the server is down waits in the listen backlog instead of
failing. A server that dies is started again after RESTART_SECONDS; the harness's
stop ends it.
"""

import logging
import os
import subprocess

import gevent

from . import journal, launch, mcprelay
from .server import bind_unix

log = logging.getLogger(__name__)

RESTART_SECONDS = 1
STOP_SECONDS = 3


class ToolServer:
    def __init__(self, hive_dir, name, is_manager, agents_dir, environ, as_claude,
                 claude_gid=None):
        """`as_claude` turns an argv into one that runs as claude's uid; `claude_gid` is
        the group that may connect (None: only this uid may)."""
        self.path = mcprelay.socket_path(str(hive_dir))
        self.hive_dir = str(hive_dir)
        self.name = name
        self.is_manager = is_manager
        self.agents_dir = agents_dir
        self.environ = environ
        self.as_claude = as_claude
        self.claude_gid = claude_gid
        self.listening = None
        self.process = None
        self.starts = 0
        self._keeper = None
        self._stopping = False

    def start(self):
        self.listening = bind_unix(self.path, mode=0o600 if self.claude_gid is None else 0o660,
                                   group=self.claude_gid)
        self._keeper = gevent.spawn(self._keep_running)
        return self

    def stop(self):
        self._stopping = True
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._keeper is not None:
            self._keeper.kill()
        if self.listening is not None:
            self.listening.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _keep_running(self):
        while not self._stopping:
            self.process = self._spawn()
            self.starts += 1
            rc = self.process.wait()
            if self._stopping:
                return
            journal.event(log, "mcp_server_exited",
                          f"the MCP server exited ({rc}); starting it again",
                          level=logging.WARNING, rc=rc)
            gevent.sleep(RESTART_SECONDS)

    def _spawn(self):
        fd = self.listening.fileno()
        argv = [*launch.entry_argv(), "mcp", "--hive-dir", self.hive_dir,
                "--listen-fd", str(fd), *(["--manager"] if self.is_manager else [])]
        return subprocess.Popen(self.as_claude(argv), env=self._env(), pass_fds=[fd],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    def _env(self):
        env = dict(self.environ)
        env.update(HYPERHIVE_SOCK=os.path.join(self.hive_dir, "mcp.sock"),
                   HYPERHIVE_HIVE_DIR=self.hive_dir, HYPERHIVE_AGENT=self.name,
                   HYPERHIVE_AGENTS_DIR=str(self.agents_dir))
        return env
