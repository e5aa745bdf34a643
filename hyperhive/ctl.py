"""`hyperhive ctl`: the operator's command line over the admin socket.

Its subcommands are the ctl forms of the verb table (verbs.py): a verb's required
fields are positional arguments, its optional ones `--flags`, and its form names
the renderer of the reply (printouts.py). Two forms run their own way: `logs`
becomes journalctl, `subscribe` prints a stream.

Exit codes: 0 done, 1 the host refused (its sentence is printed), 2 usage
errors or no host to talk to. `--json` prints the raw reply instead.
"""

import errno
import json
import os
import sys

from . import journal, verbs
from .client import Client
from .fields import Bool, ListOf, Num
from .paths import Places

EXIT_OK, EXIT_REFUSED, EXIT_NO_HOST = 0, 1, 2


def add_parser(sub):
    p = sub.add_parser("ctl", help="operator commands over the admin socket")
    p.add_argument("--root", help="the host's --root DIR")
    p.add_argument("--socket", help="admin socket path (default /run/hyperhive/host.sock)")
    p.add_argument("--json", action="store_true", help="print the raw JSON reply")
    subcommands = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name, verb, form in verbs.ctl_forms():
        command = subcommands.add_parser(name, help=form.help)
        command.set_defaults(form=(verb, form))
        _add_fields(command, verb, form)
        if RUNNER_OPTIONS.get(form.run):
            RUNNER_OPTIONS[form.run](command)


def _add_fields(parser, verb, form):
    for name, spec in verb.fields.items():
        if name in form.sets:
            continue
        options = dict(form.flags.get(name, {}))
        if name in verb.required:
            parser.add_argument(name, **_parsed_as(spec), **options)
        else:
            flag = options.pop("flag", "--" + name.replace("_", "-"))
            if not flag.startswith("-"):
                # An optional positional argument: `ctl reminders [NAME]`.
                parser.add_argument(name, nargs="?", metavar=flag.upper(), **_parsed_as(spec),
                                    **options)
                continue
            if "flag" in form.flags.get(name, {}) and not isinstance(spec, Bool):
                # Help shows the flag's own name, not the field's: --reply-to REPLY_TO.
                options.setdefault("metavar", flag.lstrip("-").replace("-", "_").upper())
            parser.add_argument(flag, dest=name, **_parsed_as(spec), **options)


def _parsed_as(spec):
    """How a field's spec reads from the command line."""
    if isinstance(spec, Bool):
        return {"action": "store_true"}
    if isinstance(spec, Num):
        return {"type": int if spec.integer else float}
    if isinstance(spec, ListOf):
        return {"type": _comma_separated}
    return {}


def _comma_separated(text):
    return [item for item in text.split(",") if item] or None


def request_for(args):
    """The wire request for parsed ctl arguments."""
    verb, form = args.form
    request = {"cmd": verb.cmd, **form.sets}
    for name in verb.fields:
        if name not in form.sets:
            request[name] = getattr(args, name)
    if form.stdin and request[form.stdin] == "-":
        request[form.stdin] = sys.stdin.read()
    return request


def socket_path(args):
    if args.socket:
        return args.socket
    return str(Places.from_root(args.root).host_sock)


def run(args):
    _, form = args.form
    path = socket_path(args)
    request = {k: v for k, v in request_for(args).items() if v is not None}
    client = Client(path)
    try:
        if form.run == "stream":
            return _subscribe(client, request)
        reply = client.request(request)
    except OSError as exc:
        print(f"hyperhive ctl: {explain_socket_error(exc, path)}", file=sys.stderr)
        return EXIT_NO_HOST
    except (ConnectionError, ValueError) as exc:
        print(f"hyperhive ctl: bad reply from {path}: {exc}", file=sys.stderr)
        return EXIT_NO_HOST
    if args.json:
        print(json.dumps(reply, indent=2))
    elif reply.get("ok") and form.run == "journalctl":
        return _journalctl(args, reply)
    elif reply.get("ok"):
        print(form.render(reply, args))
    if not reply.get("ok"):
        if not args.json:
            print(f"hyperhive ctl: {reply.get('error')} ({reply.get('code')})", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK


def explain_socket_error(exc, path):
    if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT:
        return f"no socket at {path} — the host is not running (start it with `hyperhive host`)"
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return f"nothing is listening on {path} — the host is down"
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        return (f"permission denied on {path} — run as root or join the hive-admin group "
                "(log in again after joining)")
    return f"cannot reach {path}: {exc}"


# The forms that run their own way ##############################################

def _positive(text):
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _journalctl_options(parser):
    parser.add_argument("-f", "--follow", action="store_true", help="go on printing new lines")
    parser.add_argument("-n", "--lines", type=_positive, help="only the last N lines")


def _journalctl(args, query):
    """Become journalctl, run the host's way for this agent: -f follows until Ctrl-C ends
    it, as journalctl's own would."""
    try:
        argv = journal.journalctl_argv(query, lines=args.lines, follow=args.follow)
    except ValueError as exc:
        print(f"hyperhive ctl: the host sent an unusable journal query: {exc}", file=sys.stderr)
        return EXIT_NO_HOST
    sys.stdout.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        print(f"hyperhive ctl: cannot run {argv[0]}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_NO_HOST


def _subscribe(client, request):
    try:
        for event in client.stream(request):
            print(json.dumps(event), flush=True)
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


# A form's `run` names one of these; the test of the table checks each is known here.
RUNNER_OPTIONS = {"journalctl": _journalctl_options, "stream": None}
