"""User errors, and how the command lines report them.

A ``UserError`` is something the user can fix (a bad file, flag or run directory): the command
lines print its message as one line and exit with status 2. Every other exception is a bug and
keeps its traceback.
"""
import sys


class UserError(Exception):
    """Bad input, a bad flag or an unusable run directory; the message says what to do."""


class DataError(UserError):
    """Bad input data: the message names the file, the line (when there is one) and the problem."""

    def __init__(self, path, problem, line=None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {problem}")


class ConfigError(UserError):
    """A flag or configuration value that cannot work."""


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the message names the checkpoint that is intact."""


def exit_status(action):
    """Run ``action()``; a ``UserError`` becomes one line on stderr and exit status 2, anything
    else propagates with its traceback. Returns the exit status."""
    try:
        action()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
