"""Command line: argv -> options and settings -> the role's run(). No hive logic lives here.

A flag that is also a setting has no default here: settings.load() gives it the
environment's value or the setting's default when the flag is not given.
"""

import argparse
import sys

from . import __version__, settings


def _host_parser(sub):
    p = sub.add_parser("host", help="run the host daemon (broker, sockets, dashboard)")
    p.add_argument("--root", help="keep everything under DIR (DIR/lib, DIR/run)")
    p.add_argument("--backend", choices=("process", "nspawn", "nixos"), default="process")
    p.add_argument("--dashboard-port", type=int, default=7000)
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--claude-bin", default=None)
    p.add_argument("--agent-port-base", type=_setting("agent_port_base"), default=None,
                   help="manager page port; other agents get BASE+100..BASE+999")
    p.add_argument("--agent-defaults", metavar="FILE", default=None,
                   help="a JSON object of agent.json settings every new agent starts with")
    p.add_argument("--broker", metavar="URL", default=None,
                   help="postgresql://... : keep the hive's rows in that database, shared by "
                        "every host that names it (default: an sqlite file under --root)")
    p.add_argument("--host-name", metavar="NAME", default=None,
                   help="this host's name in a hive of several (default: the machine's)")


def _agent_parser(sub):
    p = sub.add_parser("agent", help="run an agent harness (inside its container)")
    p.add_argument("--name", required=True)
    p.add_argument("--manager", action="store_true")
    # Not HYPERHIVE_HIVE_DIR: that is where claude's own `hyperhive mcp` looks, and the
    # backends give the harness its hive dir on the command line.
    p.add_argument("--hive-dir", default="/run/hive")
    p.add_argument("--state-dir", default="/state")
    p.add_argument("--web", default=None,
                   help="unix socket path of the agent's page (the host serves it from "
                        "there), or HOST:PORT with no operator session check")
    p.add_argument("--claude-bin", default=None)
    p.add_argument("--harness-dir", default=None,
                   help="the harness's own files, out of claude's reach (default: "
                        "`harness` next to the state dir)")
    p.add_argument("--claude-ids", type=_ids, default=None, metavar="UID:GID",
                   help="start claude, its login and the terminal's shell as UID:GID")
    p.add_argument("--env-file", default=None,
                   help="a JSON object of environment variables to take at start")


def _setting(name):
    """A flag's type that reads it as the setting `name` reads its variable."""
    def parse(text):
        try:
            return settings.BY_NAME[name].parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def _ids(text):
    from . import isolation
    try:
        return isolation.parse_ids(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _mcp_parser(sub):
    p = sub.add_parser("mcp", help="claude's MCP server for its hive tools: relays stdio to "
                                    "the agent's warm server (started by claude)")
    p.add_argument("--hive-dir", default=None)
    p.add_argument("--manager", action="store_true")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--listen-fd", type=int, default=None, metavar="FD",
                      help="be the warm server: one MCP session per connection accepted on "
                           "the listening unix socket FD (the harness starts this)")
    mode.add_argument("--stdio", action="store_true",
                      help="serve one MCP session on this process's stdio, without the warm "
                           "server (slow to start: it imports the MCP SDK)")


def _wake_parser(sub):
    p = sub.add_parser("wake", help="put a message into this agent's own inbox")
    p.add_argument("--from", dest="sender", required=True, help="sender label")
    p.add_argument("--body", required=True, help="message text, or - to read stdin")
    p.add_argument("--no-retry", action="store_true", help="fail at once if nothing answers")
    p.add_argument("--hive-dir", default=None)


def parser():
    p = argparse.ArgumentParser(prog="hyperhive", description=__doc__)
    p.add_argument("--version", action="version", version=f"hyperhive {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _host_parser(sub)
    _agent_parser(sub)
    _mcp_parser(sub)
    _wake_parser(sub)
    from . import ctl
    ctl.add_parser(sub)
    return p


def main(argv=None):
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command not in ("host", "agent", "mcp", "wake"):
        from . import ctl  # the operator's client reads no setting
        return ctl.run(args)
    if getattr(args, "env_file", None):
        # Before the settings are read: the file is where a container's harness gets them.
        from .bootconfig import read_env_file
        settings.take_environment(read_env_file(args.env_file))
    try:
        config = settings.load(flags=vars(args))
    except settings.BadSetting as exc:
        print(f"hyperhive {args.command}: {exc}", file=sys.stderr)
        return 2
    if args.command == "host":
        from . import host
        return host.run(args, config)
    if args.command == "agent":
        from . import harness
        return harness.run(args, config)
    if args.command == "mcp" and args.listen_fd is None and not args.stdio:
        from . import mcprelay  # claude waits for this one: the standard library only
        return mcprelay.run(config.hive_dir)
    if args.command == "mcp":
        from . import mcp_server
        return mcp_server.run(args, config)
    from . import wake
    return wake.run(args, config)
