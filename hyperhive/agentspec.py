"""What a backend is given to run one agent: its ids and its dirs on the host, and
where a container sees those dirs (SPEC §2).

Every backend (process_backend, nspawn, nixos) starts from an AgentSpec.
"""

from dataclasses import dataclass, field
from pathlib import Path

from .limits import Limits
from .paths import PAGE_SOCK

# Seconds a harness has to end after SIGTERM before it is killed.
STOP_GRACE = 10
CONTAINER_HOME = "/home/agent"


@dataclass(frozen=True)
class AgentIds:
    """One agent's uids on the host (gid = uid): its harness's and its claude's.

    On the process backend the harness is root and claude has a uid of its own; in
    a container both live in the container's range, which starts at `userns`.
    """
    harness: int
    claude: int
    userns: int = None


@dataclass
class AgentSpec:
    """Everything a backend needs to run one agent, in host paths."""
    name: str
    manager: bool
    hive_dir: Path
    state_dir: Path
    claude_dir: Path
    home_dir: Path
    config_dir: Path            # the applied repo: agent.json lives here
    web: str                    # HOST:PORT where the host serves the agent's page
    claude_bin: str
    harness_dir: Path = None    # the harness's own files; None: next to the state dir
    agents_dir: Path = None     # the manager edits the agents' config repos here
    ids: AgentIds = None        # None: the host is not root and agents run as its user
    env: dict = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)     # agent.json's cpu_quota and memory_max

    def harness_args(self, hive_dir, state_dir, harness_dir=None, claude_ids=None):
        args = ["agent", "--name", self.name, *(["--manager"] if self.manager else []),
                "--hive-dir", str(hive_dir), "--state-dir", str(state_dir),
                # The harness serves its page on a socket in its hive dir; the host
                # serves it to the operator on `web`, behind the session check.
                "--web", str(Path(hive_dir) / PAGE_SOCK), "--claude-bin", self.claude_bin]
        if harness_dir is not None:
            args += ["--harness-dir", str(harness_dir)]
        if claude_ids is not None:
            args += ["--claude-ids", f"{claude_ids}:{claude_ids}"]
        return args


def container_binds(spec):
    """(host path, container path) of an agent's own dirs, for nspawn and nixos alike."""
    binds = [(spec.hive_dir, "/run/hive"), (spec.state_dir, "/state"),
             (spec.claude_dir, "/claude"), (spec.home_dir, CONTAINER_HOME),
             (spec.harness_dir, "/harness")]
    if spec.agents_dir:
        binds.append((spec.agents_dir, "/agents"))
    return binds

