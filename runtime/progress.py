"""What a run tells the user: the ``recnas`` logger, and wall times as H:MM:SS."""
import logging
import sys

log = logging.getLogger("recnas")


def setup_logging(level=logging.INFO):
    """Messages of the ``recnas`` logger go to stdout as plain lines (the command lines call
    this; a library user configures logging as they like)."""
    if not any(getattr(h, "recnas", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.recnas = True
        log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False


def format_seconds(s):
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
