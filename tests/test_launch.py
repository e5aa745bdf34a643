"""How a hyperhive process names the command its children run it with (launch.entry_argv),
from real processes started each way: hyperhive.py, a console script, Nix's wrapper
of one, `python -m hyperhive`. (tests/test_installed_package.py runs a real install.)
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from hive import ENTRY, PYTHON, REPO, short_tmpdir

# Run as a script's tail: start the way the entry does, then say what children would get.
REPORT = """
from hyperhive import entry, launch
try:
    entry.main(["--version"])
except SystemExit:
    pass
print(json.dumps(launch.entry_argv()))
"""


@pytest.fixture
def bin_dir():
    path = short_tmpdir("hhbin")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def entry_argv_of(argv):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30,
                         cwd="/")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def script(path, header=""):
    """A console script as pip writes one: its shebang names the Python, it calls main."""
    path.write_text(f"#!{PYTHON}\nimport json, sys\n{header}\n"
                    "from hyperhive.entry import main\n" + REPORT)
    path.chmod(0o755)
    return path


def test_a_console_script_runs_its_children_through_itself(bin_dir):
    hyperhive = script(bin_dir / "hyperhive")
    assert entry_argv_of([str(hyperhive)]) == [str(hyperhive)]


def test_under_nix_the_children_run_through_the_wrapper_not_the_wrapped_script(bin_dir):
    # Nix moves the script to .NAME-wrapped, sets argv[0] to the bare name in it, and puts
    # a shell wrapper at NAME that sets the environment and runs the wrapped one.
    wrapped = script(bin_dir / ".hyperhive-wrapped", header="sys.argv[0] = 'hyperhive'")
    wrapper = bin_dir / "hyperhive"
    wrapper.write_text(f'#!/bin/bash\nexec -a "$0" {wrapped} "$@"\n')
    wrapper.chmod(0o755)
    assert entry_argv_of([str(wrapper)]) == [str(wrapper)]


def test_hyperhive_py_runs_its_children_through_the_same_python_and_file():
    code = f"import json, runpy, sys; sys.argv = [{ENTRY!r}]\n" + REPORT.replace(
        'entry.main(["--version"])',
        'sys.argv.append("--version"); runpy.run_path(sys.argv[0], run_name="__main__")')
    assert entry_argv_of([PYTHON, "-c", code]) == [PYTHON, ENTRY]


def test_any_other_program_gets_the_checkouts_hyperhive_py():
    assert entry_argv_of([PYTHON, "-c", "import json\n" + REPORT]) == [sys.executable, ENTRY]
