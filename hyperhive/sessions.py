"""The operator's web sessions: one-time login links and the cookies they become.

`hyperhive ctl login-url` (the admin socket's `login_url`) makes a link with a
random token; opening it trades the token, once and within LOGIN_TTL, for a
session cookie that every page of the host asks for. The database keeps only
SHA-256 digests of tokens and cookies, so a copy of it opens nothing. Sessions
live in the host's database and so outlast a host restart.
"""

import hashlib
import logging
import secrets
import time

log = logging.getLogger(__name__)

COOKIE = "hyperhive_session"
LOGIN_TTL = 600                 # seconds a login link works
SESSION_TTL = 30 * 86400        # seconds a session lasts
TOKEN_BYTES = 32
MAX_TOKEN = 100                 # longer tokens or cookies are not even hashed


def digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def _plausible(secret):
    return isinstance(secret, str) and 0 < len(secret) <= MAX_TOKEN


class Sessions:
    """Login tokens and sessions over the store; writes go through the broker's writer."""

    def __init__(self, store, writer, link_base, clock=time.time):
        self.store = store
        self.writer = writer
        self.link_base = link_base      # http://HOST:PORT of a page the host serves
        self.clock = clock

    def login_url(self):
        """A fresh one-time login link (the admin socket's `login_url`)."""
        return {"url": f"{self.link_base}/login/{self.new_login_token()}",
                "expires_in": LOGIN_TTL}

    def new_login_token(self):
        """A fresh one-time token (only its digest is stored)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self.clock()
        self.writer.write(lambda: self.store.add_login_token(digest(token), now, now + LOGIN_TTL))
        log.info("made a login link (valid for %d minutes)", LOGIN_TTL // 60)
        return token

    def redeem(self, token):
        """A new session's cookie value for a live, unused token; None otherwise."""
        if not _plausible(token):
            return None
        cookie = secrets.token_urlsafe(TOKEN_BYTES)
        now = self.clock()

        def write():
            if self.store.use_login_token(digest(token), now) != 1:
                return False
            self.store.add_session(digest(cookie), now, now + SESSION_TTL)
            return True
        if not self.writer.write(write):
            log.warning("refused a login link that is used, expired or unknown")
            return None
        log.info("a login link was used: new operator session")
        return cookie

    def is_valid(self, cookie):
        return _plausible(cookie) and self.store.session_alive(digest(cookie), self.clock())

    def end(self, cookie):
        if _plausible(cookie):
            self.writer.write(lambda: self.store.remove_session(digest(cookie)))
            log.info("an operator session ended (logout)")
