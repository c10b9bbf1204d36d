"""The admin CLI's exit codes and the errors that map to them (one table, in `--help`)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1  # unexpected error (a bug: please report it with the output)
EXIT_USAGE = 2  # bad arguments (argparse), or a bulk form without any filter
EXIT_NOT_FOUND = 3  # no such order, saga, dead letter or breaker
EXIT_REFUSED = 4  # the verb makes no sense in the current state (nothing was changed)
EXIT_CONFLICT = 5  # a worker holds or just changed the saga: look again and retry
EXIT_UNAVAILABLE = 6  # PostgreSQL or Redis unreachable, or settings missing

EXIT_CODES_HELP = """\
exit codes:
  0  done (bulk forms: every selected saga)
  1  unexpected error
  2  usage error (bad arguments; a bulk form needs at least one filter)
  3  not found (order, saga, dead letter, breaker)
  4  refused: the verb makes no sense in the saga's state; nothing changed
     (bulk forms: at least one saga was refused or busy, the others were done)
  5  conflict: a worker holds the saga or changed it meanwhile; look again, retry
  6  unavailable: PostgreSQL or Redis unreachable, or a setting missing
"""


class AdminError(Exception):
    """Raised when an admin command cannot do what it was asked; carries its exit code."""

    exit_code = EXIT_FAILURE


class UsageError(AdminError):
    """Raised when arguments are valid to argparse but not together."""

    exit_code = EXIT_USAGE


class NotFound(AdminError):
    """Raised when the named order, saga, dead letter or breaker does not exist."""

    exit_code = EXIT_NOT_FOUND


class Refused(AdminError):
    """Raised when a repair makes no sense in the saga's current state."""

    exit_code = EXIT_REFUSED


class Conflict(AdminError):
    """Raised when a worker holds the saga or changed it since it was read."""

    exit_code = EXIT_CONFLICT


class Unavailable(AdminError):
    """Raised when PostgreSQL or Redis cannot be reached or a setting is missing."""

    exit_code = EXIT_UNAVAILABLE
