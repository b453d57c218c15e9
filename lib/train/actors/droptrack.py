"""DropTrack trains with the OSTrack actor unchanged; only its checkpoint schedule differs (the
OSTrack schedule, but the last 10 epochs instead of the last 4, as DropTrack's trainer saves)."""

from lib.train.trainers.checkpoint import lineage_checkpoint_due


def checkpoint_due(epoch, max_epochs):
    return lineage_checkpoint_due(epoch, max_epochs, last_n=10)


def checkpoint_schedule(cfg):
    return checkpoint_due
