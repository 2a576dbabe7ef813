"""The project's exceptions; each carries the process exit code the CLI uses for it.

The library raises these with a message that names the problem and the fix; the CLI
prints `error: <message>` and exits with `exit_code`. Keeping the code on the class means
one mapping, documented in the README, instead of a table in the CLI that can drift.
"""


class TsattnError(Exception):
    """Base of every error tsattn reports to a user."""

    exit_code = 1


class UsageError(TsattnError):
    """An option value or combination of options that cannot work."""

    exit_code = 2


class DataError(TsattnError):
    """The input table is missing, unreadable or unfit for the model."""

    exit_code = 3


class CheckpointError(TsattnError):
    """A model file is missing, corrupt, of another format, or not a tsattn file."""

    exit_code = 4


class OutputError(TsattnError):
    """An output path cannot be written (missing directory, no permission)."""

    exit_code = 5


class TrainingError(TsattnError):
    """Training cannot go on (the loss became NaN or infinite)."""

    exit_code = 6


class Interrupted(TsattnError):
    """The user pressed Ctrl-C; the message says what was kept."""

    exit_code = 130
