"""Each agent's config as its applied repo holds it, read once and kept until the repo
moves (a start, a rebuild, a rollback forgets it). The send policy and the lifecycle
read the same copy."""

from . import repos


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
