"""Errors that are the user's to fix: Hydra prints their message alone, without a traceback."""

from hydra.errors import CompactHydraException

#: exit code for a mistake in the user's config or data
USAGE_ERROR = 2


class ImbexpError(CompactHydraException):
    """A mistake in the user's config or data, explained in one sentence."""


class ConfigError(ImbexpError):
    """A config key holds a value that is not allowed."""


class DataError(ImbexpError):
    """The data cannot be used as configured."""
