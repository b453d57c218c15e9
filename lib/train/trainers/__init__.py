"""Shared training loop (trainer.py), checkpoint state (checkpoint.py), optimiser (optim.py), logging
(monitor.py)."""
