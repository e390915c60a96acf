"""pytest set-up: the repository root on the import path, so tests import the packages as the
command lines do."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
