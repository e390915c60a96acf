"""The one error type for bad user input, and how the command lines report it."""
import sys


class DataError(ValueError):
    """Bad input data: the message names the file, the line (when there is one) and the problem."""

    def __init__(self, path, problem, line=None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {problem}")


def exit_status(action):
    """Run ``action()``; a user error (a ValueError, DataError included) becomes one line on
    stderr, without a traceback, and exit status 2. Returns the exit status."""
    try:
        action()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
