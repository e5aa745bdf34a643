"""The host role: broker, admin socket, one socket per agent, lifecycle, dashboard.

`run(options)` wires the pieces together, starts them, tells systemd it is
ready, and on SIGTERM or SIGINT drains: sockets stop accepting, queued writes
commit, agents are stopped, the database is closed.
"""

import grp
import logging
import signal
import sys

import gevent
from gevent.event import Event

from . import journal
from .broker import Broker
from .errors import HiveError
from .lifecycle import Lifecycle
from .names import MANAGER
from .paths import Places
from .server import ADMIN_CONNECTIONS, BrokerEndpoint, SocketServer, raise_fd_limit
from .store import Store

log = logging.getLogger(__name__)


class AgentSockets:
    """The per-agent identity sockets: broker.sock in each agent's hive dir."""

    def __init__(self, places, broker):
        self.places = places
        self.broker = broker
        self._servers = {}

    def open(self, name):
        old = self._servers.pop(name, None)
        if old:
            old.stop()
        self.places.hive_dir(name).mkdir(parents=True, exist_ok=True)
        role = "manager" if name == MANAGER else "agent"
        server = SocketServer(self.places.broker_sock(name), BrokerEndpoint(self.broker, role, name))
        server.start()
        self._servers[name] = server

    def close(self, name):
        server = self._servers.pop(name, None)
        if server:
            server.stop()

    def close_all(self):
        for name in list(self._servers):
            self.close(name)


def _admin_group():
    try:
        return grp.getgrnam("hive-admin").gr_gid
    except KeyError:
        return None


class Host:
    def __init__(self, options):
        self.options = options
        self.places = Places.from_root(options.root)
        self.places.ensure()
        self.store = Store(self.places.db)
        self.broker = Broker(self.store, self.places)
        self.sockets = AgentSockets(self.places, self.broker)
        dashboard_url = (f"http://{options.bind}:{options.dashboard_port}/"
                         if options.dashboard_port > 0 else None)
        self.broker.lifecycle = Lifecycle(
            self.places, self.broker, self.sockets, backend=options.backend, bind=options.bind,
            port_base=options.agent_port_base, claude_bin=options.claude_bin,
            dashboard_url=dashboard_url)
        self.admin = SocketServer(self.places.host_sock,
                                  BrokerEndpoint(self.broker, "admin", "operator"),
                                  group=_admin_group(), max_connections=ADMIN_CONNECTIONS)
        self.web = None
        self._stop = Event()

    def start(self):
        self.broker.start()
        life = self.broker.lifecycle
        life.ensure_manager()
        life.start_all()
        # The admin socket answers last, so a client that sees it sees a whole hive.
        self.admin.start()
        self._start_web()

    def _start_web(self):
        if self.options.dashboard_port <= 0:
            return
        try:
            from . import dashboard
        except ImportError:
            return
        self.web = dashboard.serve(self.broker, self.options.bind, self.options.dashboard_port)

    def wait(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(sig, self._stop.set)
        stop_watchdog = journal.start_watchdog()
        journal.notify("READY=1", f"STATUS=serving {len(self.broker.agent_names())} agents")
        log.info("host ready: admin socket %s", self.places.host_sock)
        self._stop.wait()
        journal.notify("STOPPING=1", "STATUS=stopping")
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


def run(options):
    journal.setup_logging("host")
    raise_fd_limit()
    try:
        host = Host(options)
    except (ValueError, HiveError) as exc:
        # A host that cannot have its backend is a setup error, not a crash.
        log.error("cannot start: %s", getattr(exc, "message", None) or exc)
        print(f"hyperhive host: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 2
    host.start()
    host.wait()
    return 0
