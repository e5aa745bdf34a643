"""Container backends: how an agent's harness is started, stopped and watched.

A backend turns an AgentSpec (host paths) into a command, runs it, and reports an
exit it did not ask for through `on_exit(name, returncode)`. The process backend
(process_backend.py) runs the harness directly; the nspawn backend (nspawn.py) runs
it inside `systemd-nspawn` with the agent's dirs bound to the container paths of
SPEC §2; the nixos backend (nixos.py) builds a NixOS container per agent with
`nixos-container`, from a flake the host writes (agentflake.py), and reads crashes
from systemd's records in the journal, since its containers are units, not children.

This module names them all and builds the one the host runs with (`make`).
"""

from .agentspec import AgentIds, AgentSpec
from .errors import Unavailable
from .nixos import NixosBackend
from .nspawn import NspawnBackend
from .process_backend import ProcessBackend

__all__ = ["BACKENDS", "AgentIds", "AgentSpec", "NixosBackend", "NspawnBackend",
           "ProcessBackend", "make"]

BACKENDS = {backend.name: backend for backend in (ProcessBackend, NspawnBackend, NixosBackend)}


def make(name, on_exit, lib_dir, settings):
    """The backend called `name`, telling `on_exit` of each exit it did not ask for; the
    nixos one keeps its per-agent flakes under `lib_dir`/nixos. `settings`: the host's."""
    if name not in BACKENDS:
        raise Unavailable(f"there is no {name!r} backend; use {', '.join(BACKENDS)}")
    if name == "nixos":
        return NixosBackend(on_exit, lib_dir / "nixos", flake=settings.flake,
                            conf_dir=settings.nixos_conf_dir,
                            journal_dir=settings.journal_dir,
                            flake_inputs=settings.flake_inputs,
                            unit_dir=settings.nixos_unit_dir)
    return BACKENDS[name](on_exit, settings.environ, settings.journal_dir)
