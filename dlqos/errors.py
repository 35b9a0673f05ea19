"""Errors a user can act on: the CLI prints them as one line and exits with a documented code."""


class DlqosError(Exception):
    """Base class: a problem the user can fix (bad input, bad configuration, missing device)."""

    exit_code = 2


class DataError(DlqosError):
    """Missing, corrupt or mismatched input data; the message names the file and the fix."""


class ConfigError(DlqosError):
    """An impossible configuration (unknown step, profile, strategy, bad flag value)."""
