"""How this process was started, so that its children run the same hyperhive.

A child (an agent's harness, claude's `hyperhive mcp`) starts through
`entry_argv()`: the console script when this process came through one (an
installed package; under Nix the script's wrapper, which puts the dependencies
on the path: the bare `sys.executable` has none), else `hyperhive.py` of a
checkout, else `python -m hyperhive`.
"""

import os
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_ENTRY = PACKAGE_DIR.parent / "hyperhive.py"

_started_from = None        # the entry script the process entry ran from, when it was one


def remember_entry(entry_main):
    """Called first by the process entry `entry_main`: note the script it ran from."""
    global _started_from
    _started_from = _entry_script(entry_main)


def entry_argv():
    """The argv prefix that runs this same hyperhive (add a role and its flags)."""
    script = _started_from
    if script is not None and not script.endswith(".py"):
        return [_nix_wrapper(script) or script]      # its shebang names the right Python
    if script is not None:
        return [sys.executable, script]
    if CHECKOUT_ENTRY.is_file():
        return [sys.executable, str(CHECKOUT_ENTRY)]
    return [sys.executable, "-m", "hyperhive"]


def _entry_script(entry_main):
    """The file `__main__` runs when it is an entry that calls `entry_main`: hyperhive.py
    or a console script; None for `python -m hyperhive` and for any other program."""
    module = sys.modules.get("__main__")
    path = getattr(module, "__file__", None)
    if not path or getattr(module, "main", None) is not entry_main:
        return None
    path = os.path.abspath(path)
    return None if Path(path).resolve().parent == PACKAGE_DIR else path


def _nix_wrapper(script):
    """Nix moves a console script to `.NAME-wrapped` and puts a shell wrapper (which sets
    the environment the program needs) at NAME: run the wrapper, as the user did."""
    path = Path(script)
    if path.name.startswith(".") and path.name.endswith("-wrapped"):
        wrapper = path.with_name(path.name[1:-len("-wrapped")])
        if os.access(wrapper, os.X_OK):
            return str(wrapper)
    return None


def code_dirs():
    """The dirs whose files a hyperhive child reads to run: its package's, its entry's
    and its Python's (a container binds them in read-only)."""
    dirs = {str(PACKAGE_DIR.parent), os.path.realpath(sys.base_prefix), sys.prefix}
    dirs.update(os.path.dirname(os.path.realpath(a)) for a in entry_argv() if os.path.isabs(a))
    if any(d.startswith("/nix/store/") for d in dirs):
        dirs.add("/nix/store")      # the dependencies are store paths of their own
    return dirs
