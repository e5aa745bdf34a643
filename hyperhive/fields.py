"""What a verb's field may hold: a type, and for every string, list and object a bound.

Each spec's `check(name, value)` returns the value or raises BadArgs with a sentence
naming the field (SPEC §12: every value an agent sends is bounded). `pytype` is the
Python type the value arrives as, which the MCP tools' schemas are built from.
"""

import json
import math
import re
import time
from dataclasses import dataclass

from .bounds import MAX_IDS, MAX_SHORT
from .errors import BadArgs


@dataclass(frozen=True)
class Text:
    """A string of at most `limit` bytes of UTF-8."""
    limit: int
    pytype = str

    def check(self, name, value):
        if not isinstance(value, str):
            raise BadArgs(f"`{name}` must be a string")
        # A character is 1 to 4 bytes: only a string near the limit needs encoding.
        if len(value) > self.limit or (4 * len(value) > self.limit
                                       and len(value.encode()) > self.limit):
            raise BadArgs(f"`{name}` is over its {self.limit}-byte limit; send less")
        return value


@dataclass(frozen=True)
class Num:
    """A finite number in [lo, hi]; `integer` refuses fractions."""
    lo: float
    hi: float
    integer: bool = False
    what: str = ""

    @property
    def pytype(self):
        return int if self.integer else float

    def check(self, name, value):
        kinds = int if self.integer else (int, float)
        # bool is an int in Python; a JSON `true` is never a valid id or count.
        if isinstance(value, bool) or not isinstance(value, kinds) \
                or not (isinstance(value, int) or math.isfinite(value)):
            raise BadArgs(f"`{name}` must be {'an integer' if self.integer else 'a number'}")
        if not self.lo <= value <= self.hi:
            raise BadArgs(f"`{name}` must be {self.what or f'between {self.lo} and {self.hi}'}")
        return value


@dataclass(frozen=True)
class OneOf:
    values: tuple
    pytype = str

    def check(self, name, value):
        if value not in self.values:
            raise BadArgs(f"`{name}` must be one of {', '.join(self.values)}")
        return value


@dataclass(frozen=True)
class Matches:
    regex: re.Pattern
    hint: str
    pytype = str

    def check(self, name, value):
        if not isinstance(value, str) or not self.regex.fullmatch(value):
            raise BadArgs(f"`{name}` must be {self.hint}")
        return value


@dataclass(frozen=True)
class ListOf:
    item: object
    max_items: int

    @property
    def pytype(self):
        return list[self.item.pytype]

    def check(self, name, value):
        if not isinstance(value, list):
            raise BadArgs(f"`{name}` must be a list")
        if len(value) > self.max_items:
            raise BadArgs(f"`{name}` has {len(value)} items; at most {self.max_items} are allowed")
        return [self.item.check(f"{name}[{i}]", v) for i, v in enumerate(value)]


@dataclass(frozen=True)
class Detail:
    """A small flat object: short keys; strings, numbers, true/false, null or lists of strings."""
    max_keys: int
    max_items: int
    max_bytes: int
    pytype = dict

    def check(self, name, value):
        if not isinstance(value, dict):
            raise BadArgs(f"`{name}` must be an object")
        if len(value) > self.max_keys:
            raise BadArgs(f"`{name}` has {len(value)} keys; at most {self.max_keys} are allowed")
        for key, item in value.items():
            if not _KEY.fullmatch(key):
                raise BadArgs(f"`{name}` keys must be short lowercase identifiers, "
                              f"not {key[:40]!r}")
            self._check_value(f"{name}.{key}", item)
        if len(json.dumps(value, ensure_ascii=False).encode()) > self.max_bytes:
            raise BadArgs(f"`{name}` is over its {self.max_bytes}-byte limit; send less")
        return value

    def _check_value(self, name, item):
        if item is None or isinstance(item, (str, bool)):
            return
        if isinstance(item, (int, float)):
            (INT if isinstance(item, int) else NUM).check(name, item)
        elif isinstance(item, list):
            ListOf(Text(self.max_bytes), self.max_items).check(name, item)
        else:
            raise BadArgs(f"`{name}` must be a string, a number, true/false, null or a list "
                          "of strings")


_KEY = re.compile(r"[a-z_][a-z0-9_]{0,31}")


class Bool:
    pytype = bool

    def check(self, name, value):
        if not isinstance(value, bool):
            raise BadArgs(f"`{name}` must be true or false")
        return value


BOOL = Bool()
NUM = Num(-1e15, 1e15, what="a number of sane size")
INT = Num(-(1 << 63), (1 << 63) - 1, integer=True, what="an integer that fits in 64 bits")
SHORT = Text(MAX_SHORT)
IDS = ListOf(INT, MAX_IDS)
# 2000-01-01 to 2100-01-01: a harness's clock, not a guess.
TIME = Num(946684800, 4102444800, what="a unix time in seconds")


@dataclass(frozen=True)
class Ahead:
    """A unix time no more than `seconds` past now (the checker's clock): a deadline a
    harness computed, which nothing sane puts further out."""
    seconds: float
    what: str
    pytype = float

    def check(self, name, value):
        TIME.check(name, value)
        if value > time.time() + self.seconds:
            raise BadArgs(f"`{name}` must be {self.what}")
        return value
