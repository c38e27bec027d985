"""How many threads one model may use: ``IMBEXP_THREADS`` when set (a parallel sweep sets it), else
the cores that are idle when the process first asks.

Why not every core: LightGBM's OpenMP threads wait for each other at every tree level, so when
another process keeps a core busy, a fit with a thread on that core waits for it. Measured on the
2 cores here with one of them kept busy, a default run's fit took 55 s with 2 threads and 1.3 s
with 1 (benchmarks/threads.py). On a quiet machine every core is idle and every core is used.

The idle cores are measured once per process over a short window (:data:`WINDOW`): the CPU time
the whole machine spent busy in it, from ``psutil.cpu_percent``. The process itself sleeps while
it measures, so what is busy is the neighbours.
"""

from __future__ import annotations

import logging
import math
import os

from imbexp import names
from imbexp.errors import ConfigError

log = logging.getLogger("imbexp")

#: seconds over which the cores' load is measured (once per process)
WINDOW = 0.2
#: a core counts as idle when at least this share of it was free in the window
IDLE_SHARE = 0.5

_measured: int | None = None


def cores() -> int:
    return os.cpu_count() or 1


def idle_cores(window: float = WINDOW) -> int:
    """The cores free in a window of ``window`` seconds, at least 1 (the process's own)."""
    import psutil

    busy_share = psutil.cpu_percent(interval=window) / 100.0
    free = cores() * (1.0 - busy_share)
    return max(1, min(cores(), math.floor(free + (1.0 - IDLE_SHARE))))


def idle() -> int:
    """:func:`idle_cores`, measured once per process (and said in one ``[threads]`` line when
    fewer than every core)."""
    global _measured
    if _measured is None:
        _measured = idle_cores()
        if _measured < cores():
            log.info("[threads] %d of %d cores idle: a model uses %d thread%s (other processes keep the rest "
                     "busy, and threads that wait for a busy core slow a fit down many times); "
                     "IMBEXP_THREADS=%d uses every core", _measured, cores(), _measured,
                     "" if _measured == 1 else "s", cores())
    return _measured


def threads() -> int:
    """Threads one model may use: ``IMBEXP_THREADS``, else the idle cores (measured once, and said
    in one ``[threads]`` line when fewer than every core)."""
    value = os.environ.get(names.THREADS_ENV)
    if value:
        if not value.strip().isdigit() or int(value) < 1:
            raise ConfigError(f"the environment variable IMBEXP_THREADS={value!r} is not allowed; use a whole "
                              "number >= 1 (model threads), or unset it to use the idle cores.")
        return int(value)
    return idle()
