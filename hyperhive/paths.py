"""Where things live on the host (SPEC §2). Every path is built from a checked name."""

import os
from dataclasses import dataclass
from pathlib import Path

from . import names

PAGE_SOCK = "page.sock"     # the harness serves the agent's page here, in its hive dir


@dataclass(frozen=True)
class Places:
    lib: Path       # /var/lib/hyperhive or ROOT/lib
    run: Path       # /run/hyperhive or ROOT/run

    @classmethod
    def from_root(cls, root=None):
        if root is None:
            return cls(Path("/var/lib/hyperhive"), Path("/run/hyperhive"))
        root = Path(root).absolute()
        return cls(root / "lib", root / "run")

    @property
    def db(self):
        return self.lib / "broker.sqlite"

    @property
    def host_sock(self):
        return self.run / "host.sock"

    def agent_dir(self, name):
        return self.lib / "agents" / names.check(name)

    def state_dir(self, name):
        return self.agent_dir(name) / "state"

    def claude_dir(self, name):
        return self.agent_dir(name) / "claude"

    def home_dir(self, name):
        # The process backend's HOME: claude keeps ~/.claude.json here, and
        # ~/.claude points at the agent's claude dir.
        return self.agent_dir(name) / "home"

    def harness_dir(self, name):
        """The harness's own files (events, turn stats, model, session, nap): not claude's."""
        return self.agent_dir(name) / "harness"

    def config_repo(self, name):
        return self.agent_dir(name) / "config"

    def applied_repo(self, name):
        return self.lib / "applied" / names.check(name)

    def hive_dir(self, name):
        """The agent's socket dir: /run/hive inside its container."""
        return self.run / "agents" / names.check(name)

    def broker_sock(self, name):
        return self.hive_dir(name) / "broker.sock"

    def page_sock(self, name):
        return self.hive_dir(name) / PAGE_SOCK

    def names_on_disk(self):
        """Names with a real agent dir on disk; only for adopting an older hive: what the
        host made is recorded in its database."""
        base = self.lib / "agents"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir()
                      if names.is_valid(p.name) and p.is_dir() and not p.is_symlink())

    def ensure(self):
        """The hive's dirs: root-only but for the traverse bits an agent needs to reach
        its own dirs and sockets (SPEC §12)."""
        modes = {self.lib: 0o711, self.lib / "agents": 0o711, self.lib / "applied": 0o700,
                 self.run: 0o711, self.run / "agents": 0o711}
        for d, mode in modes.items():
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, mode)
