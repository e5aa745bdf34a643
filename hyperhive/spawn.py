"""Start a child process with pipes, fast under gevent.

gevent's `subprocess.Popen` forks the whole harness in Python (about 14 ms for a
40 MB process here), which is most of a turn's overhead. Under gevent's monkey
patching this starts the child with `os.posix_spawn` instead (a vfork-style
clone: under a millisecond whatever the parent's size) and registers it with
gevent's child watcher, so `wait()` still yields to other greenlets. Without
gevent it is plain `subprocess.Popen`.

Only what a claude turn needs: stdin, stdout and stderr pipes, its own session
(so a signal reaches its whole process group), a working directory.
"""

import os
import subprocess


def start(argv, cwd=None, env=None):
    """A started child with .pid, .stdin, .stdout, .stderr, .poll(), .wait().

    `env` is the child's whole environment (the harness builds claude's); with None the
    child inherits this process's, which only Popen can do without reading it here."""
    if env is not None and _gevent_patched():
        return SpawnedChild(argv, cwd, env)
    return subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _gevent_patched():
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("os") and monkey.is_module_patched("subprocess")


class SpawnedChild:
    """A child made by posix_spawn, watched by gevent's hub."""

    def __init__(self, argv, cwd, env):
        from gevent.fileobject import FileObjectPosix
        from gevent.os import fork_and_watch

        ends = [os.pipe() for _ in range(3)]      # stdin, stdout, stderr
        child_ends = (ends[0][0], ends[1][1], ends[2][1])
        mine = (ends[0][1], ends[1][0], ends[2][0])
        actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(child_ends)]
        spawn = os.posix_spawn if "/" in argv[0] else os.posix_spawnp
        try:
            # fork_and_watch takes any callable that returns the child's pid; it then
            # watches that pid, which makes the patched os.waitpid cooperative for it.
            self.pid = fork_and_watch(fork=lambda: _spawn_in(cwd, spawn, argv, env, actions))
        except BaseException:
            for fd in (*child_ends, *mine):
                os.close(fd)
            raise
        for fd in child_ends:
            os.close(fd)
        self.stdin = FileObjectPosix(mine[0], "wb")
        self.stdout = FileObjectPosix(mine[1], "rb")
        self.stderr = FileObjectPosix(mine[2], "rb")
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self):
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, signum):
        if self.returncode is None:
            os.kill(self.pid, signum)


def _spawn_in(cwd, spawn, argv, env, actions):
    """posix_spawn has no working-directory option: change ours around the call.

    Safe because nothing else runs in between: greenlets only switch on IO.
    """
    if cwd is None:
        return spawn(argv[0], argv, env, file_actions=actions, setsid=True)
    here = os.getcwd()
    os.chdir(cwd)
    try:
        return spawn(argv[0], argv, env, file_actions=actions, setsid=True)
    finally:
        os.chdir(here)
