"""Claude's setup for one agent: the facts claudeconfig renders from, and its files.

The harness writes claude's three files (MCP config, settings, system prompt) and the
`hyperhive` command for claude's shell at boot, and the manager's again before each
turn; claude gets its environment and its uid's command line from here too.
"""

import json
import logging
import os
import shutil
from pathlib import Path

from . import bootconfig, claude, claudeconfig, launch, prompts
from .login import claude_dir

log = logging.getLogger(__name__)


class ClaudeSetup:
    def __init__(self, name, is_manager, hive_dir, state_dir, config, claude_ids,
                 notes_limit, settings):
        """`settings`: the harness's; claude's environment is built from theirs."""
        self.name = name
        self.environ = settings.environ
        self.agents_dir = settings.agents_dir      # the manager's view of the agents' dirs
        self.is_manager = is_manager
        self.hive_dir = Path(hive_dir)
        self.state_dir = Path(state_dir)
        self.config = config
        self.claude_ids = claude_ids
        self.notes_limit = notes_limit
        self._unix_sockets = None

    def write_files(self):
        self.hive_dir.mkdir(parents=True, exist_ok=True)
        files = {
            claude.MCP_CONFIG_FILE: json.dumps(self.mcp_config(), indent=2),
            claude.SETTINGS_FILE: json.dumps(self.settings(), indent=2),
            claude.SYSTEM_PROMPT_FILE: prompts.system_prompt(
                self.name, self.is_manager, self.agents_dir, self.notes_limit),
        }
        for name, text in files.items():
            _write_readonly(self.hive_dir / name, text, 0o644)
        self.write_shell_command()

    def write_shell_command(self):
        """`hyperhive` on claude's PATH: a script that runs this same hyperhive.

        Claude's shell has no way to know where (and on which Python) the harness's
        hyperhive lives; the harness does, on every backend, from inside the container.
        """
        bin_dir = self.hive_dir / claudeconfig.SHELL_BIN_DIR
        bin_dir.mkdir(mode=0o755, exist_ok=True)
        os.chmod(bin_dir, 0o755)
        _write_readonly(bin_dir / "hyperhive",
                        claudeconfig.shell_script(launch.entry_argv()), 0o755)

    def mcp_config(self):
        extra = self.config.get("extra_mcp_servers")
        for key in claudeconfig.ignored_servers(extra):
            log.warning("ignoring extra MCP server %r", key)
        return claudeconfig.mcp_config(launch.entry_argv(), self.name, self.hive_dir,
                                       self.is_manager, self.agents_dir, extra)

    def allowed_rules(self, builtins=claudeconfig.BUILTINS):
        return claudeconfig.allowed_rules(self.config, self._rule_dirs(), builtins)

    def settings(self):
        for problem in claudeconfig.settings_problems(self.config):
            log.warning("%s", problem)
        return claudeconfig.settings(self.config, self._rule_dirs(), self._write_dirs(),
                                     hidden_dirs=[os.path.realpath(claude_dir(self.environ))],
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
            self._unix_sockets = bootconfig.bwrap_disables_userns(bwrap, self.as_claude([]))
            if not self._unix_sockets:
                log.warning("bubblewrap (%s) cannot disable user namespaces here (it needs "
                            "0.8.0 or later, not setuid, and a writable /proc/sys): claude's "
                            "shell gets no unix sockets; its `hyperhive wake` goes "
                            "through the wake spool",
                            bwrap or "not found")
        return self._unix_sockets

    def _rule_dirs(self):
        return claudeconfig.rule_dirs(os.path.realpath(self.state_dir), self.is_manager,
                                      os.path.realpath(self.agents_dir))

    def _write_dirs(self):
        repos = ()
        if self.is_manager:
            agents = Path(os.path.realpath(self.agents_dir))
            repos = [p for p in agents.glob("*/config") if p.is_dir()]
        return claudeconfig.write_dirs(os.path.realpath(self.state_dir), repos)

    def claude_env(self):
        return claudeconfig.claude_env(self.environ, self.name, self.hive_dir, self.state_dir)

    def as_claude(self, argv):
        return claudeconfig.as_claude(argv, self.claude_ids)

    def config_problem(self):
        """Why this harness cannot run its agent.json, as a sentence; None when it can."""
        return bootconfig.config_problem(
            self.config, self.claude_env().get("PATH", os.defpath), self.state_dir)


def _write_readonly(path, text, mode):
    """Replace `path` with `text`: the harness's, readable by claude, never writable by it."""
    tmp = path.parent / f".{path.name}.tmp"
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), mode)
        f.write(text)
    os.replace(tmp, path)
