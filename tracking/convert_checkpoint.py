"""Converts a checkpoint in any layout the family reads to safetensors in our keys, with a JSON sidecar
(family, config, source name and sha256, layout, key count); build_model and the trackers load the
result directly. The logic is in lib/models/conversion.py.

python tracking/convert_checkpoint.py ostrack vitb_256_mae_ce_32x4_ep300 OSTrack_ep0300.pth.tar
python tracking/convert_checkpoint.py lorat base_224 base_224.bin --pretrain_file dinov2_vitb14_pretrain.pth
python tracking/convert_checkpoint.py ostrack vitb_256_mae_ce_32x4_ep300 mae_pretrain_vit_base.pth \
    --pretrained
"""

import sys

import _init_paths  # noqa: F401

from lib.models.conversion import main

if __name__ == '__main__':
    sys.exit(main())
