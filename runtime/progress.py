"""What a run tells the user: the ``recnas`` logger, progress within a slow epoch, wall times
as H:MM:SS, and the CPU threads torch may use."""
import logging
import os
import sys
import time

import torch

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


def set_threads(threads=None):
    """Let torch use ``threads`` CPU threads (default: every core this process may run on,
    shared out among the processes of a torchrun launch on this machine), and say once when
    other processes already keep those cores busy. Its threads sleep while they wait
    (``OMP_WAIT_POLICY=PASSIVE``, set by ``import recnas``), so a busy machine slows a run down
    about in proportion to the work beside it rather than several times over. The count is not
    changed by itself: it changes the order of float sums, so a run is bit-for-bit reproducible
    only with the same ``--threads``. Returns the thread count."""
    cores = len(os.sched_getaffinity(0))
    threads = threads or max(1, cores // int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
    torch.set_num_threads(threads)
    busy = busy_cores()
    if threads > 1 and busy is not None and busy > cores - threads + 0.5:
        free = max(1, min(threads, round(cores - busy)))
        log.warning(f"note: other processes keep about {busy:.1f} of the {cores} cores busy; "
                    f"with {threads} threads this run shares them"
                    + (f" (--threads {free} may be faster)" if free < threads else ""))
    return threads


def busy_cores(window=0.3):
    """How many cores other processes keep busy now: the machine's non-idle CPU time over a
    short window in which this process sleeps (Linux /proc/stat; None elsewhere). Unlike the
    load average, it does not remember work that ended a minute ago."""
    def sample():
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
        return sum(ticks), ticks[3] + ticks[4]          # all, idle + iowait
    try:
        total, idle = sample()
        time.sleep(window)
        total2, idle2 = sample()
    except (OSError, ValueError, IndexError):
        return None
    elapsed = total2 - total
    return 0.0 if elapsed <= 0 else (1 - (idle2 - idle) / elapsed) * os.cpu_count()


class BatchProgress:
    """Progress within an epoch, for epochs that take long: a line every ``every`` seconds with
    the batches done and the epoch's ETA (nothing for an epoch shorter than that)."""

    def __init__(self, label, total, every=15.0):
        self.label, self.total, self.every = label, total, every
        self.start = self.last = time.perf_counter()
        self.done = 0

    def step(self):
        self.done += 1
        now = time.perf_counter()
        if now - self.last >= self.every and self.done < self.total:
            self.last = now
            elapsed = now - self.start
            eta = elapsed / self.done * (self.total - self.done)
            log.info(f"  {self.label}: {self.done}/{self.total} batches "
                     f"({self.done / self.total:.0%}), {format_seconds(elapsed)} elapsed, "
                     f"epoch ETA {format_seconds(eta)}")
