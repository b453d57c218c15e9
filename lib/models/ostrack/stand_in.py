"""The OSTrack-lineage network with random weights as a tracker's stand-in (benchmarks and the
inference-path agreement tests; lib/benchmark/agreement.py)."""

import torch

SEARCH_PEAK = 0.8  # added to 0.2 x the (0..1) score map at the peak cell
# A random center head regresses about half of the search crop, 2-4x the target, so free-running boxes
# would grow to the whole frame, where clipping hides every difference; the size map is scaled down.
SIZE_SCALE = 0.5


def stand_in(network: torch.nn.Module, peaked: bool = False) -> torch.nn.Module:
    """Hooks the box head: target-sized boxes and, with `peaked`, a fixed peak in the score map."""
    from lib.benchmark.agreement import ScorePeak

    peak = ScorePeak()

    def hook(module, args, output):
        score_map, bbox, size_map, offset_map = output
        if peaked:
            score_map = 0.2 * score_map + SEARCH_PEAK * peak(score_map)
        return score_map, bbox, SIZE_SCALE * size_map, offset_map

    network.box_head.register_forward_hook(hook)
    return network
