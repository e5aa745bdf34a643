"""Settings read from the environment at start, each by one parser for its kind of value."""

import logging
import os

log = logging.getLogger(__name__)


def number(name, default, unit, environ=os.environ, kind=float):
    """The number of `unit`s in the environment variable `name`: `default` when it is
    unset, and also (said in the log) when it is not a number that is zero or more."""
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = -1
    if not value >= 0:                     # negative, or NaN
        log.warning("%s=%r is not a number of %s; using %s", name, text, unit, default)
        return default
    return value
