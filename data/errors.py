"""The one error type for bad user input."""


class DataError(ValueError):
    """Bad input data: the message names the file, the line (when there is one) and the problem."""

    def __init__(self, path, problem, line=None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {problem}")
