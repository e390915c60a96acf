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
