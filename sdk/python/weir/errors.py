"""Errors a function raises: the host fails the job with them or, under
``on_error = "dead-letter"``, sets the record aside."""


class WeirError(Exception):
    """Base of the SDK's errors."""

    kind = "user"


class UserError(WeirError):
    """The function's own logic failed (bad configuration or input)."""

    kind = "user"


class DecodeError(WeirError):
    """A record or state value is not what its codec expects."""

    kind = "decode"


def describe(error):
    """(kind, message) for any exception a function raised."""
    if isinstance(error, WeirError):
        return error.kind, str(error)
    return "user", f"{type(error).__name__}: {error}"
