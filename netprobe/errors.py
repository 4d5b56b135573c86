"""Errors that reach a user as one line with a fix, never as a traceback.

Every command catches `NetprobeError` at the top (cli.main) and prints `error: <message>`,
exiting with `exit_code`. Anything else that escapes is a bug, reported as one line too.
"""

from __future__ import annotations

# Exit codes shared by every command (check follows the Nagios convention on top of these).
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # bad arguments, bad inventory/config, refused target


class NetprobeError(Exception):
    """A failure the user can act on. The message says where and how to fix it."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(NetprobeError):
    """The config file or environment is wrong."""


class PrivilegeError(NetprobeError):
    """An operation needs root or a capability the process does not have."""


class TargetRefused(NetprobeError):
    """A target lies outside the allow-list: it is never probed."""
