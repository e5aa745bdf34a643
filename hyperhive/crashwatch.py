"""Crash watch: an agent that exits unasked is restarted with a doubling back-off, until
it has crashed more than CRASH_LIMIT times in CRASH_WINDOW seconds; then it is marked
failed and left stopped until someone starts it."""

CRASH_WINDOW = 600
CRASH_LIMIT = 5


class CrashWatch:
    def __init__(self, clock):
        self.clock = clock
        self._crashes = {}          # name -> times of its recent crashes
        self._failed = set()

    def crashed(self, name):
        """Count a crash; the seconds to wait before restarting, or None: it gave up."""
        now = self.clock()
        crashes = [t for t in self._crashes.get(name, []) if now - t < CRASH_WINDOW] + [now]
        self._crashes[name] = crashes
        if len(crashes) > CRASH_LIMIT:
            self._failed.add(name)
            return None
        return 2 ** (len(crashes) - 1)

    def count(self, name):
        """Its crashes within the window: the attempt a restart after the last one is."""
        return len(self._crashes.get(name, []))

    def failed(self, name):
        return name in self._failed

    def fail(self, name):
        self._failed.add(name)

    def clear_failed(self, name):
        self._failed.discard(name)

    def forget_crashes(self, name):
        """A fresh crash history (a config rolled back; an operator's start)."""
        self._crashes.pop(name, None)

    def forget(self, name):
        self.forget_crashes(name)
        self.clear_failed(name)
