"""InferenceOptions: how a tracker runs its per-frame step (what it computes stays the same).

    InferenceOptions()          # the fast path: SDPA, device preprocessing, cached template tokens
    InferenceOptions.plain()    # the reference path, the official way: explicit softmax attention,
                                # numpy/cv2 crops with host round trips, template re-embedded every frame
    InferenceOptions(precision='bf16', compile='cudagraph')

Fields (each validated; a bad value is a ValueError naming the field and the allowed values):
- attention: 'sdpa' | 'explicit' (lib.models.layers.attention.set_attention_impl).
- preprocess: 'device' (crop + resize + normalise with torch ops on the tracker's device, identical
  pixels to the numpy path; on a GPU only the frame block each crop reads is uploaded, see
  lib/test/tracker/device_crop.py::DeviceFrame) | 'numpy' (lib.utils.crop / siamfc_crop on the host,
  then upload the crop).
- template_cache: embed the template (patch + position [+ token type] embeddings) once per sequence.
  A network without that ability (a stand-in without `embed_template`) gets the template image.
- precision: None | 'fp32' | 'bf16' | 'fp16'. 'bf16' / 'fp16' run the backbone under torch.autocast
  with that dtype (weights stay fp32); the head, whose outputs are the box, and the box decoding run
  in fp32 (a network without a separable head runs wholly under autocast). None = the config's choice:
  LoRAT keeps its TEST.AMP meaning (fp16 autocast on CUDA when TEST.AMP is set, as the official
  LoRAT evaluation does; fp32 elsewhere), every other tracker runs fp32. Give 'fp32' to force fp32.
- compile: 'off' | 'compile' (torch.compile of the per-frame network step) | 'cudagraph' (the step
  captured once per batch size with torch.cuda.CUDAGraph into static buffers and replayed; CUDA only).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

ATTENTION = ('sdpa', 'explicit')
PREPROCESS = ('device', 'numpy')
PRECISION = ('fp32', 'bf16', 'fp16')
COMPILE = ('off', 'compile', 'cudagraph')


@dataclasses.dataclass(frozen=True)
class InferenceOptions:
    attention: str = 'sdpa'
    preprocess: str = 'device'
    template_cache: bool = True
    precision: str | None = None
    compile: str = 'off'

    def __post_init__(self) -> None:
        for name, allowed in (('attention', ATTENTION), ('preprocess', PREPROCESS), ('compile', COMPILE)):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"InferenceOptions.{name}={value!r} is not one of {', '.join(allowed)}")
        if self.precision is not None and self.precision not in PRECISION:
            raise ValueError(
                f"InferenceOptions.precision={self.precision!r} is not one of "
                f"{', '.join(PRECISION)} (or None: the config's choice)"
            )
        if not isinstance(self.template_cache, bool):
            raise ValueError(f"InferenceOptions.template_cache={self.template_cache!r} must be True or False")

    @classmethod
    def plain(cls) -> InferenceOptions:
        """The reference path (fp32, explicit attention, numpy crops, no template cache, eager)."""
        return cls(
            attention='explicit', preprocess='numpy', template_cache=False, precision='fp32', compile='off'
        )

    def replace(self, **changes: Any) -> InferenceOptions:
        return dataclasses.replace(self, **changes)

    def resolved_precision(self, config_amp: bool = False, device_type: str = 'cpu') -> str:
        """The precision actually used: the given one, or for None fp16 when the config asks for AMP
        (LoRAT's TEST.AMP) on CUDA, else fp32."""
        if self.precision is not None:
            return self.precision
        return 'fp16' if config_amp and device_type == 'cuda' else 'fp32'

    def check_device(self, device: torch.device) -> None:
        """Raises ValueError when the options cannot run on `device` (torch.device)."""
        if self.compile == 'cudagraph' and device.type != 'cuda':
            raise ValueError(
                f"InferenceOptions.compile='cudagraph' needs a CUDA device, the tracker runs on "
                f"'{device}' (use compile='compile' or 'off')"
            )


def as_options(options: InferenceOptions | dict | None) -> InferenceOptions:
    """None -> InferenceOptions(); an InferenceOptions passes; a dict is taken as field values."""
    if options is None:
        return InferenceOptions()
    if isinstance(options, InferenceOptions):
        return options
    if isinstance(options, dict):
        return InferenceOptions(**options)
    raise TypeError(f'options must be an InferenceOptions (or a dict of its fields), got {options!r}')
