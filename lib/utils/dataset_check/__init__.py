"""tracking/check_dataset.py's logic: every dataset OneStream reads, checked through its own reader.

sources.py  the sequences of a training name (LASOT, CUSTOM:x, ...) or an evaluation name (lasot, ...)
checks.py   the per-sequence checks and KINDS, the finding kinds with their severity per mode
cli.py      the command: table, summary, exit status, --write-exclusions
"""
