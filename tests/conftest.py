"""pytest set-up: nothing to set up. The tests import the installed ``recnas`` package
(`pip install -e .`), as a user's code would; no path is inserted."""
