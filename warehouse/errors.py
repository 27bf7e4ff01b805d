"""What a warehouse refuses: the errors every command reports as one line instead of a traceback."""

from __future__ import annotations


class LandingError(Exception):
    """A file that cannot be landed. The message names the file and the problem; nothing was written."""


class WarehouseUnreachable(LandingError):
    """The warehouse's server could not be reached or refused the login: nothing was read or written. The message
    names the server (user, host, port, database), never the password. A LandingError, so every command that
    reports landing errors reports this one the same way instead of a traceback."""
