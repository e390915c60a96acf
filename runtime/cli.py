"""What the three command lines share: an argument parser that takes no abbreviations and
reports a bad flag or value in one line (exit status 2), as every other user error."""
import argparse
import sys


class ArgumentParser(argparse.ArgumentParser):
    def __init__(self, **kwargs):
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message):
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)

    def given(self, argv):
        """The destinations of the options that ``argv`` names (``--lr 1e-3`` or ``--lr=1e-3``):
        what the user set, as opposed to defaults."""
        named = {arg.split("=", 1)[0] for arg in argv if arg.startswith("--")}
        return {action.dest for action in self._actions
                if any(option in named for option in action.option_strings)}
