"""Each agent's config as its applied repo holds it, read once and kept until the repo
moves (a start, a rebuild, a rollback forgets it). The send policy and the lifecycle
read the same copy."""

from . import repos
from .bounds import MAX_HISTORY
from .errors import BadArgs, Unavailable


class Configs:
    def __init__(self, places):
        self.places = places
        self._configs = {}

    def get(self, name):
        if name not in self._configs:
            self._configs[name] = repos.read_config(self.places.applied_repo(name))
        return self._configs[name]

    def forget(self, name):
        self._configs.pop(name, None)

    def allowed_recipients(self, name):
        return self.get(name).get("allowed_recipients") or []

    def view(self, name, limit=None):
        """The config as the host reads it and the newest `limit` commits of the applied
        repo's history, each with its tags by kind."""
        limit = repos.HISTORY_DEFAULT if limit is None else limit
        if not 1 <= limit <= MAX_HISTORY:
            raise BadArgs(f"limit must be from 1 to {MAX_HISTORY}")
        try:
            history = repos.history(self.places.applied_repo(name), limit)
        except (repos.GitError, OSError) as exc:
            raise Unavailable(f"the config repo of {name} could not be read: {exc}") from None
        return {"name": name, "config": self.get(name), "history": history}
