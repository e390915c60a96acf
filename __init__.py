"""recnas: differentiable graph neural architecture search for recommendation.

The repository root is the package (setup.cfg maps ``recnas`` to it), so the design card's
folders are its rooms: ``recnas.data``, ``recnas.ops``, ``recnas.supernet``, ... and its
command lines are ``recnas.train``, ``recnas.derive`` and ``recnas.recommend`` (installed as the
commands ``recnas-train``, ``recnas-derive``, ``recnas-recommend`` and ``recnas``).
tests/test_layers.py holds the order of the rooms; imports only point down it."""
__version__ = "0.2.0"

import os as _os

# Jobs that share a machine: OpenMP threads that wait for work sleep instead of spinning, so
# two recnas jobs (or recnas beside anything else) do not burn each other's cores. Measured on
# 2 cores, one search epoch beside one other recnas job: 4.6 x slower than alone with spinning
# threads (29 x in another run), 1.4 x with sleeping ones (benchmarks/results/threads_*.md). It must be set before
# torch loads OpenMP, hence here, the first code of every recnas import; it does not change any
# result (the thread count, and so the order of float sums, stays the same). A user's own
# OMP_WAIT_POLICY wins, and a program that imported torch before recnas keeps its own setting.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
