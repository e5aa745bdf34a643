"""An agent's resource limits: agent.json's `cpu_quota` and `memory_max`.

They become systemd's CPUQuota= and MemoryMax= on whatever unit holds the agent:
a transient scope (process and nspawn backends) or the container's unit (nixos).
The values reach command lines and unit files, so only the plain forms below pass,
within bounds: a quota from 1% to 6400% of one CPU, memory from 32M to 16T (or 1% to
100% of the host's).
"""

import re
from dataclasses import dataclass

CPU_QUOTA_MAX = 6400           # percent of one CPU: 64 cores
MEMORY_MIN = 32 << 20          # below this no harness and claude fit
MEMORY_MAX = 16 << 40
_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_PERCENT = re.compile(r"([1-9][0-9]{0,3})%\Z")
_SIZE = re.compile(r"([1-9][0-9]{0,7})([KMGT])\Z")


def cpu_quota_problem(value):
    """None when `value` is a usable cpu_quota (or null); else what is wrong with it."""
    if value is None:
        return None
    match = _PERCENT.match(value) if isinstance(value, str) else None
    if not match or int(match.group(1)) > CPU_QUOTA_MAX:
        return (f"`cpu_quota` must be a percentage of one CPU from 1% to {CPU_QUOTA_MAX}% "
                f"(\"50%\", \"200%\") or null")
    return None


def memory_max_problem(value):
    """None when `value` is a usable memory_max (or null); else what is wrong with it."""
    if value is None:
        return None
    wrong = ("`memory_max` must be a size from 32M to 16T (\"512M\", \"2G\"), a percentage "
             "of the host's memory from 1% to 100%, or null")
    if not isinstance(value, str):
        return wrong
    percent = _PERCENT.match(value)
    if percent:
        return None if int(percent.group(1)) <= 100 else wrong
    size = _SIZE.match(value)
    if not size or not MEMORY_MIN <= int(size.group(1)) * _UNITS[size.group(2)] <= MEMORY_MAX:
        return wrong
    return None


def problems(config):
    """What is wrong with the limits of an agent.json object (empty when nothing)."""
    found = [cpu_quota_problem(config.get("cpu_quota")),
             memory_max_problem(config.get("memory_max"))]
    return [p for p in found if p]


@dataclass(frozen=True)
class Limits:
    cpu_quota: str = None
    memory_max: str = None

    @classmethod
    def from_config(cls, config):
        """The limits of an agent.json object; a value that fails its check is left out
        (the applied config was checked on approval; this guards what reaches argv)."""
        quota, memory = config.get("cpu_quota"), config.get("memory_max")
        return cls(cpu_quota=None if cpu_quota_problem(quota) else quota,
                   memory_max=None if memory_max_problem(memory) else memory)

    def properties(self):
        """systemd unit properties, e.g. ["CPUQuota=50%", "MemoryMax=2G"]."""
        props = []
        if self.cpu_quota:
            props.append(f"CPUQuota={self.cpu_quota}")
        if self.memory_max:
            props.append(f"MemoryMax={self.memory_max}")
        return props

    def __bool__(self):
        return bool(self.cpu_quota or self.memory_max)
