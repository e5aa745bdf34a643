"""The host role: broker, admin socket, one socket per agent, lifecycle, dashboard.

`run(options, settings)` wires the pieces together, starts them, tells systemd it is
ready, and on SIGTERM or SIGINT drains: sockets stop accepting, queued writes
commit, agents are stopped, the database is closed.
"""

import grp
import logging
import os
import signal
import sys

import gevent
from gevent.event import Event

from . import agentconfig, isolation, journal
from .broker import Broker
from .errors import HiveError
from .lifecycle import Lifecycle
from .names import MANAGER
from .pages import Pages
from .paths import Places
from .server import ADMIN_CONNECTIONS, BrokerEndpoint, SocketServer, raise_fd_limit
from .sessions import LOGIN_TTL, Sessions
from .store import Store
from .web import WILDCARD

log = logging.getLogger(__name__)


class AgentSockets:
    """What the host listens on for each agent, from its spawn (or the host's start) to
    its destroy: its identity socket (broker.sock in its hive dir) and, with `pages`,
    its page port."""

    def __init__(self, places, broker, pages=None):
        self.places = places
        self.broker = broker
        self.pages = pages
        self._servers = {}

    def open(self, name, port):
        old = self._servers.pop(name, None)
        if old:
            old.stop()
        self.places.hive_dir(name).mkdir(parents=True, exist_ok=True)
        role = "manager" if name == MANAGER else "agent"
        # Only the agent's harness talks to the host: claude never reaches this socket.
        endpoint = BrokerEndpoint(self.broker, role, name)
        server = SocketServer(self.places.broker_sock(name), endpoint, mode=0o600)
        server.start()
        self._servers[name] = server
        if self.pages is not None:
            self.pages.open(name, port)

    def close(self, name):
        server = self._servers.pop(name, None)
        if server:
            server.stop()
        if self.pages is not None:
            self.pages.close(name)

    def close_all(self):
        if self.pages is not None:
            self.pages.close_all()
        for name in list(self._servers):
            self.close(name)


def _url_host(bind):
    """How a link names a server bound to `bind` (a wildcard bind: this machine's loopback)."""
    if bind in WILDCARD:
        return "127.0.0.1"
    return f"[{bind}]" if ":" in bind else bind


def _admin_group():
    try:
        return grp.getgrnam("hive-admin").gr_gid
    except KeyError:
        return None


class Host:
    def __init__(self, options, settings):
        self.options = options
        self.settings = settings
        self.places = Places.from_root(options.root)
        defaults_file = settings.agent_defaults
        agent_defaults = agentconfig.load_defaults(defaults_file) if defaults_file else None
        self.places.ensure()
        if options.root and isolation.isolated():
            os.chmod(options.root, 0o711)   # agents traverse it to their own dirs and sockets
        self.store = Store(options.broker or self.places.db)
        for path in self.places.lib.glob(self.places.db.name + "*"):
            os.chmod(path, 0o600)
        # Login links point at the dashboard, or at the manager's page when there is none.
        link_port = (options.dashboard_port if options.dashboard_port > 0
                     else settings.agent_port_base)
        link_base = f"http://{_url_host(options.bind)}:{link_port}"
        dashboard_url = (f"http://{_url_host(options.bind)}:{options.dashboard_port}/"
                         if options.dashboard_port > 0 else None)
        # In order: the broker (its parts, its sessions, and its operations, which build
        # the lifecycle), then the sockets and pages that answer with it.
        self.broker = Broker(
            self.store, self.places, retention_days=settings.retention_days,
            daily_budget_usd=settings.daily_budget_usd, host_name=options.host_name,
            sessions=lambda writer: Sessions(self.store, writer, link_base),
            lifecycle=lambda **parts: Lifecycle(
                self.places, open_socket=self._open_sockets, close_socket=self._close_sockets,
                backend=options.backend, bind=options.bind, port_base=settings.agent_port_base,
                claude_bin=settings.claude_bin, dashboard_url=dashboard_url,
                agent_defaults=agent_defaults, settle=settings.settle_seconds,
                settings=settings, **parts))
        self.sessions = self.broker.sessions
        pages = Pages(self.broker, self.sessions, self.places, settings, options.bind)
        self.sockets = AgentSockets(self.places, self.broker, pages)
        self.admin = SocketServer(self.places.host_sock,
                                  BrokerEndpoint(self.broker, "admin", "operator"),
                                  group=_admin_group(), max_connections=ADMIN_CONNECTIONS)
        self.web = None
        self._stop = Event()

    # The lifecycle opens and closes an agent's listeners through these; they are
    # called only once the host is built (at its start, on a spawn or a destroy).
    def _open_sockets(self, name, port):
        self.sockets.open(name, port)

    def _close_sockets(self, name):
        self.sockets.close(name)

    def start(self):
        self.broker.start()
        self.broker.operations.start_host()
        # The admin socket answers last, so a client that sees it sees a whole hive.
        self.admin.start()
        self._start_web()
        self._offer_login_link()

    def _start_web(self):
        if self.options.dashboard_port <= 0:
            return
        from . import dashboard
        self.web = dashboard.serve(self.broker, self.sessions, self.settings, self.options.bind,
                                   self.options.dashboard_port)

    def _offer_login_link(self):
        # As a notebook server does: whoever started the host at a terminal can open it
        # at once. The link goes to the terminal only, never into the journal.
        if sys.stderr.isatty():
            print(f"hyperhive: log in at {self.sessions.login_url()['url']} (the link "
                  f"works once, for {LOGIN_TTL // 60} minutes)", file=sys.stderr, flush=True)

    def wait(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(sig, self._stop.set)
        stop_watchdog = journal.start_watchdog(self.settings)
        journal.notify(self.settings, "READY=1", f"STATUS=serving {len(self.broker.agents.here())} agents")
        log.info("host ready: admin socket %s", self.places.host_sock)
        self._stop.wait()
        journal.notify(self.settings, "STOPPING=1", "STATUS=stopping")
        log.info("host stopping")
        self.shutdown()
        stop_watchdog()

    def shutdown(self):
        self.admin.stop()
        if self.web is not None:
            self.web.stop(timeout=1)
        self.sockets.close_all()
        self.broker.writer.drain()
        self.broker.lifecycle.stop_all()
        self.broker.stop()
        self.store.close()


def run(options, settings):
    # Nothing the host writes is anyone else's to read unless it says so.
    os.umask(0o077)
    journal.setup_logging("host", settings)
    raise_fd_limit()
    if not isolation.isolated():
        log.warning("agents are not isolated: the host is not running as root, so every "
                    "agent's claude runs as this user and can reach the whole hive")
    try:
        host = Host(options, settings)
    except (ValueError, HiveError) as exc:
        # A host that cannot have its backend is a setup error, not a crash.
        log.error("cannot start: %s", getattr(exc, "message", None) or exc)
        print(f"hyperhive host: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 2
    host.start()
    host.wait()
    return 0
