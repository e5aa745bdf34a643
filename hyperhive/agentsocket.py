"""mcp.sock, the agent's socket: what claude's `hyperhive mcp` and `hyperhive wake` ask.

Broker verbs go to the host as they are; nap and whoami are answered here.
"""

from . import verbs
from .client import RemoteError
from .errors import Unavailable, UnknownCmd, from_code
from .hostlink import LINK_ERRORS


class HarnessEndpoint:
    """mcp.sock: broker verbs go to the host as they are; nap and whoami stay here."""

    def __init__(self, harness):
        self.harness = harness
        self.forward = set(verbs.forwarded("manager" if harness.is_manager else "agent"))

    def hello(self):
        return {"role": "harness", "name": self.harness.name,
                "cmds": sorted([*self.forward, "nap", "whoami", "hello"])}

    def dispatch(self, request):
        cmd = request.get("cmd")
        if cmd == "nap":
            return self.harness.nap(request.get("seconds"))
        if cmd == "whoami":
            return {"name": self.harness.name,
                    "role": "manager" if self.harness.is_manager else "agent"}
        if cmd not in self.forward:
            raise UnknownCmd(f"unknown cmd {str(cmd)[:40]!r}")
        return self._forward(request)

    def _forward(self, request):
        """Pass one request to the host, riding out a host restart as the wire rule says.

        The reply carries `retries` when the host link needed any, so the tool result
        can tell claude the slow answer was the hive's hiccup, not its content.
        """
        cmd, fields = request.get("cmd"), {k: v for k, v in request.items() if k != "cmd"}
        wait = request.get("wait_seconds") if cmd == "recv" else 0
        timeout = min(float(wait or 0), 180) + 30 if isinstance(wait, (int, float)) else 30
        try:
            reply, retries = self.harness.host.call_retrying(cmd, timeout=timeout, **fields)
        except RemoteError as exc:
            raise from_code(exc.code, str(exc)) from None
        except LINK_ERRORS as exc:
            raise Unavailable(f"the host is not answering ({exc}) after retrying for a "
                              "minute; try again shortly") from None
        if cmd == "recv":
            self.harness.took([m["id"] for m in reply.get("messages", [])])
        out = {k: v for k, v in reply.items() if k not in ("ok", "v")}
        if retries:
            out["retries"] = retries
        return out

    def can_stream(self, request):
        return False

    def undeliver(self, ids):
        # claude's tool process went away before it read these: they are not in flight.
        self.harness.gave_back(ids)
        try:
            self.harness.host.request({"cmd": "undeliver", "ids": list(ids)}, timeout=10)
        except LINK_ERRORS:
            pass
