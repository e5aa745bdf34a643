"""`hyperhive mcp`, what claude starts for its hive tools each turn: a byte relay.

claude waits for its MCP servers before its first request, so this process must start
at once and stay small (SPEC §11). It imports only the standard library: it connects
to the agent's warm MCP server (mcp_server.py, which the harness keeps running on
`mcp-tools.sock` in the hive dir) and copies bytes both ways between its own
stdin/stdout and that socket until either side closes. The session, its tools and its
errors are all the warm server's; which agent it speaks for is the socket's.

A harness that is only starting may not have its socket yet: the relay waits for it
for up to WAIT_SECONDS, then says on stderr what it could not reach and exits 1.
"""

import os
import socket
import sys
import threading
import time

SOCKET_NAME = "mcp-tools.sock"
WAIT_SECONDS = 10
RETRY_SECONDS = 0.05
CHUNK = 1 << 16


def socket_path(hive_dir):
    return os.path.join(hive_dir, SOCKET_NAME)


def plain_hive_dir(args):
    """The hive dir of the command line claude's MCP config gives (`--hive-dir DIR`, maybe
    `--manager`, which only the warm server heeds); None for any other, which cli.py
    reads with the settings. This way the relay skips the ~30 ms of importing those."""
    rest = [arg for arg in args if arg != "--manager"]
    if len(rest) == 2 and rest[0] == "--hive-dir" and rest[1]:
        return rest[1]
    return None


def run(hive_dir, wait=WAIT_SECONDS):
    path = socket_path(hive_dir)
    try:
        sock = connect(path, wait)
    except OSError as exc:
        print(f"hyperhive mcp: the agent's MCP server is not answering on {path} after "
              f"{wait:g} s ({exc.strerror or exc}); is its harness running?",
              file=sys.stderr)
        return 1
    relay(sock, sys.stdin.fileno(), sys.stdout.fileno())
    return 0


def connect(path, wait=WAIT_SECONDS):
    """A connection to `path`, retried while the socket is missing or refuses."""
    deadline = time.monotonic() + wait
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if time.monotonic() + RETRY_SECONDS > deadline:
                raise
            time.sleep(RETRY_SECONDS)
        except OSError:
            sock.close()
            raise


def relay(sock, in_fd, out_fd):
    """Copy in_fd to the socket (in a thread) and the socket to out_fd, until the
    server closes: the server ends the session after claude's side has closed."""
    upstream = threading.Thread(target=_upstream, args=(in_fd, sock), daemon=True)
    upstream.start()
    try:
        while chunk := sock.recv(CHUNK):
            _write_all(out_fd, chunk)
    except OSError:
        pass                # claude went away, or the server died: either way, done
    finally:
        sock.close()


def _upstream(in_fd, sock):
    try:
        while chunk := os.read(in_fd, CHUNK):
            sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)       # the server sees claude's EOF
    except OSError:
        pass


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
