"""Errors a user can cause, each carrying one line that names the cause and the fix."""


class AssistantError(Exception):
    """Base class of every error the project raises on purpose."""

    exit_code = 1


class UserError(AssistantError):
    """Something the user can fix (a flag, a file, a setting); the CLI exits with code 2."""

    exit_code = 2


class ConfigError(UserError):
    """A configuration key or value is wrong."""


class InputError(UserError):
    """An input file is missing, unreadable or holds no usable media."""


class ModelError(UserError):
    """A model file is missing, corrupt or of the wrong kind."""


class DeviceError(UserError):
    """An audio device is missing or cannot be opened."""


def one_line(exc: BaseException) -> str:
    """``exc``'s message on one line (a server's answer quoted in it may hold line breaks)."""
    return " ".join(str(exc).split()) or type(exc).__name__
