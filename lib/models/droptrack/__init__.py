"""DropTrack = OSTrack with two frame identity embeddings (MODEL.BACKBONE.FRAME_IDENTITY_EMBED, on in the
droptrack defaults), fine-tuned from DropMAE weights. Same builder and profiling inputs."""

from lib.models.ostrack.ostrack import build_ostrack as build
from lib.models.ostrack.ostrack import profile_inputs

__all__ = ['build', 'profile_inputs']
