"""Errors that are the user's to fix: Hydra prints their message alone, without a traceback."""

import sys
from typing import NoReturn

from hydra.errors import CompactHydraException

#: exit code for a mistake in the user's config or data
USAGE_ERROR = 2


def exit_with(message: object, code: int = USAGE_ERROR) -> NoReturn:
    """The command's end on a mistake: ``imbexp: error: <one sentence>`` on stderr, no traceback."""
    print(f"imbexp: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def first_line(exc: BaseException) -> str:
    """A library's exception as a reason in one of our sentences: its first line, or its type."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class ImbexpError(CompactHydraException):
    """A mistake in the user's config or data, explained in one sentence."""


class ConfigError(ImbexpError):
    """A config key holds a value that is not allowed."""


class DataError(ImbexpError):
    """The data cannot be used as configured."""
