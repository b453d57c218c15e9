"""Actors: per-family loss computation, a batch to (loss, stats). Each family's Family (lib/families.py)
names its build_actor, parameter groups, processing and checkpoint schedule."""
