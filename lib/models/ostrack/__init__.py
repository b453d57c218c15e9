"""OSTrack family: `build(cfg, training=True)` returns the model of a merged config."""

from lib.models.ostrack.ostrack import OSTrack, build, build_ostrack, profile_inputs  # noqa: F401
