"""DropTrack defaults: OSTrack's, with the frame identity embeddings switched on (its only model change)."""

from lib.config.ostrack.config import defaults as ostrack_defaults


def defaults():
    cfg = ostrack_defaults()
    cfg.MODEL.BACKBONE.FRAME_IDENTITY_EMBED = True
    return cfg
