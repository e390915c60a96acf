"""The run plumbing: one config (config.py), the run directory and the job dispatch (jobs.py),
the main job with selection (pipeline.py),
checkpoints with a kind and a version (checkpoint.py), atomic file writes (files.py), the user
errors and how command lines report them (errors.py), logging and time formats (progress.py)."""
