"""The LoRAT network with random weights as a tracker's stand-in (benchmarks and the inference-path
agreement tests; lib/benchmark/agreement.py)."""

import torch

from lib.models.lorat.builder import set_layer_scale_

LOGIT_PEAK = 8.0  # added to 0.1 x the logits at the peak cell
# A random head regresses about the whole search crop, 2-4x the target; boxes are scaled by this around
# their cell centre so that free-running boxes do not grow to the frame, where clipping hides differences.
BOX_SHRINK = 0.25
# A random DINOv2 starts at LAYER_SCALE_INIT (1e-5 by default), where the blocks barely touch the
# residual stream and attention or precision changes would go unseen.
RANDOM_LAYER_SCALE = 0.5


def stand_in(network: torch.nn.Module, peaked: bool = False) -> torch.nn.Module:
    """Larger layer scales, target-sized boxes and, with `peaked`, a fixed peak in the score logits."""
    from lib.benchmark.agreement import ScorePeak

    set_layer_scale_(network, RANDOM_LAYER_SCALE)
    peak = ScorePeak()

    def hook(module, args, output):
        out = dict(output)
        if peaked:
            out['score_map'] = 0.1 * out['score_map'] + LOGIT_PEAK * peak(out['score_map'])
        centres = module.bbox_offset.repeat(1, 1, 2).to(out['boxes'].dtype)
        out['boxes'] = centres + BOX_SHRINK * (out['boxes'] - centres)
        return out

    network.head.register_forward_hook(hook)
    return network
