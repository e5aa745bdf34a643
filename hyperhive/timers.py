"""When something should happen later: a clock and a way to schedule a call.

The lifecycle's back-offs and a rollout's settle and ready timers go through one
of these, so a test can hand in its own clock and run what is due at once.
"""

import time

import gevent


class Timers:
    def __init__(self, clock=time.time):
        self.clock = clock

    def later(self, seconds, fn, *args):
        """Call fn(*args) in its own greenlet after `seconds`."""
        gevent.spawn_later(seconds, fn, *args)

    def now(self, fn, *args):
        """Call fn(*args) in its own greenlet as soon as this one yields."""
        gevent.spawn(fn, *args)
