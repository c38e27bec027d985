"""Where the seconds of a run go: each stage's wall time, logged as ``seconds_<stage>``, except the
fits' time, which is the run's one fit-time metric ``fit_seconds`` (every fit of the run: under cv
each fold's and the final one's)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator


class Stopwatch:
    """Wall time per named stage; a stage entered several times (CV folds) adds up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._started = time.perf_counter()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def remainder(self, name: str) -> None:
        """Book the time since the stopwatch started that no stage has claimed under ``name``."""
        claimed = sum(value for key, value in self.seconds.items() if key != name)
        self.seconds[name] = time.perf_counter() - self._started - claimed

    def metrics(self) -> dict[str, float]:
        return {("fit_seconds" if name == "fit" else f"seconds_{name}"): value for name, value in self.seconds.items()}
