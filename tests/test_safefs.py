"""safefs on real files: what an agent can plant in its tree never redirects or blocks us."""

import os
import socket
import stat
import threading

import pytest

from hyperhive import safefs
from hyperhive.errors import BadArgs, Conflict


@pytest.fixture
def tree(tmp_path):
    """An agent's tree, and a file outside it that nothing may touch."""
    agent = tmp_path / "state"
    agent.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    return agent, outside


def test_a_write_makes_missing_dirs_and_a_private_file(tree):
    agent, _ = tree
    safefs.write_text(agent, "a/b/c.txt", "hello", create_dirs=True)
    assert (agent / "a/b/c.txt").read_text() == "hello"
    assert stat.S_IMODE((agent / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((agent / "a/b/c.txt").stat().st_mode) == 0o600
    assert sorted(p.name for p in (agent / "a/b").iterdir()) == ["c.txt"]   # no temp left
    safefs.write_text(agent, "a/b/c.txt", "again")
    assert safefs.read_text(agent, "a/b/c.txt") == "again"


def test_a_write_through_a_symlink_at_the_path_is_refused(tree):
    agent, outside = tree
    (agent / "x").symlink_to(outside)
    with pytest.raises(Conflict, match=r"^/state/x is a symlink; only regular files$"):
        safefs.write_text(agent, "x", "evil", shown="/state", why="only regular files")
    assert outside.read_text() == "precious" and (agent / "x").is_symlink()
    assert sorted(p.name for p in agent.iterdir()) == ["x"]


def test_a_symlinked_parent_dir_is_refused_for_reads_writes_and_mkdirs(tree):
    agent, outside = tree
    (agent / "d").symlink_to(outside.parent)
    with pytest.raises(Conflict, match="d is a symlink"):
        safefs.write_text(agent, "d/outside.txt", "evil", create_dirs=True)
    with pytest.raises(Conflict, match="d is a symlink"):
        safefs.read_text(agent, "d/outside.txt")
    with pytest.raises(Conflict, match="d is a symlink"):
        safefs.make_dirs(agent, "d/new")
    assert outside.read_text() == "precious" and not (outside.parent / "new").exists()


def test_a_fifo_is_refused_at_once_for_reads_and_writes(tree):
    agent, _ = tree
    os.mkfifo(agent / "pipe")
    done = threading.Event()

    def attempt():
        with pytest.raises(Conflict, match="pipe is a FIFO"):
            safefs.read_bytes(agent, "pipe")
        with pytest.raises(Conflict, match="pipe is a FIFO"):
            safefs.write_text(agent, "pipe", "x")
        done.set()
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    assert done.wait(2), "a FIFO blocked the caller"
    assert stat.S_ISFIFO(os.lstat(agent / "pipe").st_mode)


def test_sockets_and_directories_are_not_files(tree):
    agent, _ = tree
    (agent / "dir").mkdir()
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(agent / "sock"))
        with pytest.raises(Conflict, match="sock is a socket"):
            safefs.read_bytes(agent, "sock")
        with pytest.raises(Conflict, match="sock is a socket"):
            safefs.write_text(agent, "sock", "x")
    with pytest.raises(Conflict, match="dir is a directory"):
        safefs.read_bytes(agent, "dir")
    with pytest.raises(Conflict, match="dir is a directory"):
        safefs.write_text(agent, "dir", "x")
    (agent / "file").write_text("f")
    with pytest.raises(Conflict, match="file is not a directory"):
        safefs.write_text(agent, "file/x", "x", create_dirs=True)


def test_reads_are_bounded_and_missing_files_read_as_none(tree):
    agent, _ = tree
    (agent / "big").write_bytes(b"x" * 101)
    with pytest.raises(Conflict, match="big is over 100 bytes"):
        safefs.read_bytes(agent, "big", limit=100)
    assert safefs.read_bytes(agent, "big", limit=101) == b"x" * 101
    assert safefs.read_bytes(agent, "nothing") is None
    assert safefs.read_bytes(agent, "no/such/dir") is None


def test_malformed_paths_are_refused(tree):
    agent, _ = tree
    for rel in ("", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\0b", "a/" * 600):
        with pytest.raises(BadArgs):
            safefs.write_text(agent, rel, "x", create_dirs=True)


def test_remove_unlinks_links_and_files_but_never_follows(tree):
    agent, outside = tree
    (agent / "link").symlink_to(outside)
    (agent / "file").write_text("f")
    (agent / "dir").mkdir()
    assert safefs.remove(agent, "link") and safefs.remove(agent, "file")
    assert not safefs.remove(agent, "dir") and not safefs.remove(agent, "gone")
    assert outside.read_text() == "precious"
    assert [p.name for p in agent.iterdir()] == ["dir"]


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership hand-over needs root")
def test_what_root_makes_in_a_tree_belongs_to_the_trees_owner(tree):
    agent, _ = tree
    os.chown(agent, 4321, 4321)
    safefs.write_text(agent, "r/one.txt", "x", create_dirs=True)
    for path in (agent / "r", agent / "r/one.txt"):
        assert (path.stat().st_uid, path.stat().st_gid) == (4321, 4321)
