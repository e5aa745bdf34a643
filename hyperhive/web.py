"""What the dashboard and the per-agent page share: serving, POST rules, replies, SSE.

A page module builds an explicit `bottle.Bottle()` and uses these pieces:

- `serve(app, bind, port)` runs it on a gevent WSGIServer in the background;
  every request (and every SSE stream) is its own greenlet.
- `serve_unix(app, path)` does the same on a unix socket (an agent's page.sock).
- `install(app, bind, sessions)` adds the Host check (against DNS rebinding),
  the operator's session check, /login/<token>, /logout, /static/* and plain
  error pages to an app. Every response of a served app carries the
  anti-framing and no-referrer headers (`SECURITY_HEADERS`).
- `action(app, path, back)` registers a POST handler. It refuses cross-site
  requests (403) and bodies over 1 MiB (413), parses the form, calls the
  handler with it, and turns the result, or a HiveError, into a 303 back to
  the page with a flash (`?ok=` / `?error=`) or, when the request accepts
  JSON, into `{"ok": true, ...}` / `{"ok": false, "error", "code"}` with the
  status from errors.HTTP_STATUS.
- event streams (JSON events and page fragments) are `sse.stream`.
- `render(name, **vars)` renders a template from hyperhive/templates.
"""

import functools
import ipaddress
import json
import logging
import re
import socket
import time
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import bottle
from gevent.pywsgi import LoggingLogAdapter, WSGIHandler, WSGIServer

from .errors import HTTP_STATUS, BadArgs, HiveError
from .server import bind_unix
from .sessions import COOKIE, LOGIN_TTL, SESSION_TTL
from .sse import SOCKET_KEY

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES = PACKAGE_DIR / "templates"        # package data in a checkout and a wheel alike
MAX_BODY = 1 << 20
LOCAL_KEY = "hyperhive.local_address"   # the address the connection arrived on
TARGET_KEY = "hyperhive.target"         # the request line's path and query, as sent
FLASH_MAX = 300
WILDCARD = ("", "0.0.0.0", "::")
SECURITY_HEADERS = (("X-Frame-Options", "DENY"),
                    ("Content-Security-Policy", "frame-ancestors 'none'"),
                    ("X-Content-Type-Options", "nosniff"),
                    ("Referrer-Policy", "no-referrer"))
LOGIN_HOWTO = "run `hyperhive ctl login-url` on the host and open the link it prints"
_LOGIN_PATH = re.compile(r"/login/[A-Za-z0-9_-]{16,100}\Z")


def static_dir(configured=None):
    """The pages' CSS, JS and vendored libraries: `configured` (HYPERHIVE_STATIC) when
    set, else the installed package's copy (hyperhive/static in a wheel), else the
    checkout's static/."""
    if configured:
        return Path(configured)
    installed = PACKAGE_DIR / "static"
    return installed if installed.is_dir() else PACKAGE_DIR.parent / "static"


# -- serving ------------------------------------------------------------------

class _Handler(WSGIHandler):
    """Lets a stream see its socket (to notice a hang-up) and keeps dead peers out of the log."""

    def get_environ(self):
        env = super().get_environ()
        env[SOCKET_KEY] = self.socket
        env[TARGET_KEY] = self.path
        try:
            local = self.socket.getsockname()
            env[LOCAL_KEY] = _local_address(local) if isinstance(local, tuple) else None
        except OSError:
            env[LOCAL_KEY] = None
        return env

    def handle_error(self, t, v, tb):
        if issubclass(t, OSError):      # the client went away or stopped reading
            self.close_connection = True
            return
        super().handle_error(t, v, tb)


def _server(listener, app):
    error_log = LoggingLogAdapter(logging.getLogger("hyperhive.web"), logging.ERROR)
    backlog = None if isinstance(listener, socket.socket) else 1024
    return WSGIServer(listener, _with_security_headers(app), log=None, error_log=error_log,
                      handler_class=_Handler, backlog=backlog)


def _with_security_headers(app):
    """Every response, whichever app or error page made it, refuses framing and referrers."""
    def guarded(environ, start_response):
        def start(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            headers = list(headers) + [h for h in SECURITY_HEADERS
                                       if h[0].lower() not in present]
            return start_response(status, headers, exc_info)
        return app(environ, start)
    return guarded


def serve_unix(app, path, mode=0o600):
    """Start `app` on a unix socket (replacing a stale one) and return the server."""
    server = _server(bind_unix(path, mode=mode), app)
    server.start()
    log.info("serving the page on %s", path)
    return server


def serve(app, bind, port, attempts=5):
    """Start `app` on bind:port in the background and return the server (`.stop(timeout)`)."""
    for attempt in range(attempts):
        server = _server((bind, port), app)
        try:
            server.start()
            log.info("serving http://%s:%s/", bind, server.server_port)
            return server
        except OSError as exc:
            if attempt == attempts - 1:
                raise
            log.warning("cannot listen on %s:%s yet (%s); retrying", bind, port, exc)
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def install(app, settings, bind="127.0.0.1", sessions=None):
    """Host check, session check, /static/* and error pages: the common part of every app.

    With `sessions` (the host's pages) every request but /static/* and the login link
    needs the operator's session cookie, and the app answers /login/<token> and /logout.
    Without (a harness's page behind the host, on its unix socket) there is no session
    to check: the host checked it and stripped the cookie before passing the request on.
    """
    allowed = _allowed_hosts(bind, settings.web_hosts)
    static_root = str(static_dir(settings.static_dir))

    def check_host():
        if allowed is not None and not allowed.admits(bottle.request):
            raise bottle.HTTPResponse(
                _error_body(HiveError("this page only answers on its own address")),
                status=421, headers={"Content-Type": "application/json"})
    app.add_hook("before_request", check_host)
    if sessions is not None:
        _install_sessions(app, sessions)

    @app.get("/static/<path:path>")
    def static(path):
        resp = bottle.static_file(path, root=static_root)
        resp.set_header("Cache-Control", "no-cache")
        return resp

    for status in (400, 403, 404, 405, 413, 500):
        app.error(status)(_error_page)


# -- the operator's session -------------------------------------------------------

def _public():
    """Static files and the login link are the only things served without a session.
    (Not a HEAD of the link: a link previewer must not use it up.)"""
    path = bottle.request.path
    return path.startswith("/static/") or (
        bottle.request.method == "GET" and _LOGIN_PATH.match(path) is not None)


def _install_sessions(app, sessions):
    def check_session():
        if not _public() and not sessions.is_valid(bottle.request.get_cookie(COOKIE)):
            raise _login_needed("this page needs the operator's session")
    app.add_hook("before_request", check_session)

    @app.get("/login/<token>")
    def login(token):
        cookie = sessions.redeem(token)
        if cookie is None:
            raise _login_needed("this login link is used, expired or unknown; each link "
                                f"works once, for {LOGIN_TTL // 60} minutes")
        resp = bottle.HTTPResponse(status=303, headers={"Location": "/"})
        resp.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", path="/",
                        max_age=SESSION_TTL)
        return resp

    @app.post("/logout")
    def logout():
        if cross_site():
            return refuse_cross_site()
        sessions.end(bottle.request.get_cookie(COOKIE))
        resp = reply({"flash": "logged out"}, back="/")
        resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return resp


def _login_needed(why):
    """401, with the one line that says how to get in (JSON when asked)."""
    if wants_json():
        body = json.dumps({"ok": False, "error": f"{why}: {LOGIN_HOWTO}", "code": "unauthorized"})
        ctype = "application/json"
    else:
        body = render("unauthorized", why=why, howto=LOGIN_HOWTO,
                      flash_ok=bottle.request.query.getunicode("ok"))
        ctype = "text/html; charset=utf-8"
    return bottle.HTTPResponse(body, status=401, headers={"Content-Type": ctype,
                                                          "Cache-Control": "no-store"})


def _error_page(err):
    code = {404: "not_found", 403: "forbidden", 413: "too_large", 405: "bad_args",
            400: "bad_args"}.get(err.status_code, "internal")
    text = err.body if isinstance(err.body, str) and err.status_code != 500 else err.status_line
    if wants_json():
        bottle.response.content_type = "application/json"
        return json.dumps({"ok": False, "error": text, "code": code})
    bottle.response.content_type = "text/plain; charset=utf-8"
    return f"{err.status_line}: {text}\n"


def _hostname(host_header):
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _allowed_hosts(bind, extra):
    """The names a server on `bind` answers to, `extra` (HYPERHIVE_WEB_HOSTS) too; None
    for a unix socket (the host's proxy in front of it checked the name already)."""
    if bind.startswith("/"):
        return None
    names = {"localhost", *_machine_names()}
    if bind not in WILDCARD:
        names.add(bind.lower().strip("[]"))
    names |= extra
    return _HostNames(names)


@functools.lru_cache(maxsize=1)
def _machine_names():
    # getfqdn may ask DNS: once per process, not once per page app.
    return frozenset({socket.gethostname().lower(), socket.getfqdn().lower()})


def _local_address(sockname):
    """The address a connection arrived on, as a Host header would name it."""
    address = sockname[0].lower()
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    mapped = getattr(ip, "ipv4_mapped", None)      # an IPv4 client of a "::" bind
    return str(mapped) if mapped else address


class _HostNames(frozenset):
    """Names a page answers to: these, every loopback address, and the address the
    connection arrived on (so a wildcard bind answers to http://<its address>/)."""

    def __contains__(self, name):
        if frozenset.__contains__(self, name):
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def admits(self, request):
        name = _hostname(request.headers.get("Host", ""))
        return name in self or (name != "" and name == request.environ.get(LOCAL_KEY))


# -- templates ----------------------------------------------------------------

def render(template, /, **variables):
    """Render templates/<template>.tpl; `{{x}}` escapes, `{{!x}}` is only for our own markup."""
    return bottle.template(template, template_lookup=[str(TEMPLATES)], **variables)


def html(text):
    bottle.response.content_type = "text/html; charset=utf-8"
    return text


def json_reply(obj, status=200):
    bottle.response.status = status
    bottle.response.content_type = "application/json"
    return json.dumps(obj)


# -- POST rules and replies ---------------------------------------------------

def wants_json():
    return "application/json" in bottle.request.headers.get("Accept", "")


def cross_site():
    """True when a request comes from another site (Sec-Fetch-Site or Origin say so)."""
    headers = bottle.request.headers
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site.strip().lower() not in ("same-origin", "none"):
        return True
    origin = headers.get("Origin")
    if origin is None:
        return False
    return _origin_hostport(origin) != _host_hostport(headers.get("Host", ""))


def _origin_hostport(origin):
    try:
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return parts.hostname.lower(), port


def _host_hostport(host):
    if not host:
        return ()
    try:
        parts = urlsplit("//" + host.strip())
        port = parts.port or (443 if bottle.request.urlparts.scheme == "https" else 80)
        return (parts.hostname or "").lower(), port
    except ValueError:
        return ()


def read_body():
    """The request's body as bytes; TooBig (413) over MAX_BODY."""
    environ = bottle.request.environ
    if "hyperhive.body" not in environ:
        length = bottle.request.content_length
        if length > MAX_BODY:
            raise TooBig()
        # gevent's input already undoes chunked framing and stops at Content-Length.
        stream = environ.get("wsgi.input")
        environ["hyperhive.body"] = (stream.read(MAX_BODY + 1)
                                     if stream is not None and (length > 0 or _chunked())
                                     else b"")
    raw = environ["hyperhive.body"]
    if len(raw) > MAX_BODY:
        raise TooBig()
    return raw


def read_form():
    """The urlencoded body as a bottle.FormsDict (unicode values); 413 over MAX_BODY."""
    raw = read_body()
    form = bottle.FormsDict()
    ctype = bottle.request.content_type.split(";")[0].strip().lower()
    if raw and ctype in ("", "application/x-www-form-urlencoded"):
        for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            form.append(key, value)
    elif raw and ctype == "application/json":
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            raise BadArgs(f"the body is not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise BadArgs("a JSON body must be an object")
        for key, value in obj.items():
            for v in value if isinstance(value, list) else [value]:
                form.append(key, v if isinstance(v, str) else json.dumps(v))
    elif raw:
        raise BadArgs("send the form as application/x-www-form-urlencoded")
    return form


def _chunked():
    return "chunked" in bottle.request.headers.get("Transfer-Encoding", "").lower()


class TooBig(HiveError):
    code = "too_large"

    def __init__(self):
        super().__init__(f"the request body is over {MAX_BODY} bytes")


def field(form, name, required=True, strip=False):
    value = form.get(name)
    if value is None or not value.strip():
        if required:
            raise BadArgs(f"`{name}` is required")
        return None
    return value.strip() if strip else value


def plain_error(exc):
    """A HiveError as a plain-text HTTP reply (for pages read whole, not forms)."""
    return bottle.HTTPResponse(exc.message + "\n", status=HTTP_STATUS.get(exc.code, 500),
                               headers={"Content-Type": "text/plain; charset=utf-8"})


def int_arg(value, what="id"):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadArgs(f"{what} must be a number, not {str(value)[:20]!r}") from None


def _error_body(exc):
    return json.dumps({"ok": False, "error": exc.message, "code": exc.code})


def redirect(back="/", ok=None, error=None):
    """303 to `back` with a flash; `back` may carry a #fragment."""
    path, _, fragment = back.partition("#")
    query = ""
    if ok is not None:
        query = "ok=" + quote(str(ok)[:FLASH_MAX], safe="")
    elif error is not None:
        query = "error=" + quote(str(error)[:FLASH_MAX], safe="")
    location = path + ("?" + query if query else "") + ("#" + fragment if fragment else "")
    return bottle.HTTPResponse(status=303, headers={"Location": location})


def reply(result=None, back="/"):
    """Success: JSON `{"ok": true, ...}` when asked, else a 303 with `result["flash"]`."""
    result = dict(result or {})
    flash = result.pop("flash", None) or "done"
    if wants_json():
        return bottle.HTTPResponse(json.dumps({"ok": True, "message": flash, **result}),
                                   status=200, headers={"Content-Type": "application/json"})
    return redirect(back, ok=flash)


def fail(exc, back="/"):
    """A HiveError as JSON with its HTTP status, or as a 303 with `?error=`."""
    if wants_json() or back is None:
        return bottle.HTTPResponse(_error_body(exc), status=HTTP_STATUS.get(exc.code, 500),
                                   headers={"Content-Type": "application/json"})
    return redirect(back, error=exc.message)


def refuse_cross_site():
    return bottle.HTTPResponse(
        _error_body(_Refused("cross-site requests are refused")), status=403,
        headers={"Content-Type": "application/json"})


class _Refused(HiveError):
    code = "forbidden"


def action(app, path, back="/"):
    """Register `fn(form, **url_args)` as a POST action (see the module docstring).

    `fn` returns a dict (its "flash" key is the message shown after a redirect),
    or a bottle.HTTPResponse to answer with (e.g. a confirmation page).
    """
    def decorate(fn):
        def handler(**url_args):
            if cross_site():
                return refuse_cross_site()
            try:
                form = read_form()
                result = fn(form, **url_args)
            except TooBig as exc:
                return fail(exc, back=None)
            except HiveError as exc:
                return fail(exc, back)
            except bottle.HTTPResponse:
                raise
            except Exception as exc:
                log.exception("POST %s failed", bottle.request.path)
                return fail(HiveError(f"internal error: {type(exc).__name__}"), back)
            if isinstance(result, bottle.HTTPResponse):
                return result
            return reply(result, back)
        handler.__name__ = fn.__name__
        app.route(path, "POST", handler)
        return fn
    return decorate


# -- server-sent events -------------------------------------------------------
