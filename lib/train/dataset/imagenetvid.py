"""ImageNet VID (ILSVRC2015) tracklets as training sequences (optional; no official yaml uses it).

Layout: <root>/Annotations/VID/train/<set>/<video>/*.xml and
<root>/Data/VID/train/ILSVRC2015_VID_train_%04d/ILSVRC2015_train_%08d/%06d.JPEG. The tracklets are
parsed once into <root>/cache.json (the lineage's file and format); LMDB keys 'cache.json' and
'Data/VID/train/...'. A tracklet runs from the first frame its track id appears until the first frame
it is missing; visible = occluded == 0 and w, h > 0.
"""

import json
import warnings
import xml.etree.ElementTree as ET

import numpy as np

from lib.train.dataset.base_video_dataset import BaseVideoDataset, object_meta, to_sequence_info
from lib.train.dataset.layouts import valid_boxes
from lib.train.dataset.storage import open_storage
from lib.utils.io import atomic_write_text

CACHE_KEY = 'cache.json'
ANNOTATION_DIR = 'Annotations/VID/train'


def _parse_video(storage, video_key):
    """Tracklets of one video annotation folder, in the cache.json entry format (without ids)."""
    files = sorted(n for n in storage.list_names(video_key) if n.endswith('.xml'))
    trees = [ET.fromstring(storage.read_bytes(f'{video_key}/{n}')) for n in files]
    size = trees[0].find('size')
    image_size = [int(size.find('width').text), int(size.find('height').text)]
    objects = [{o.find('trackid').text: o for o in tree.findall('object')} for tree in trees]
    starts = {}
    for frame, objs in enumerate(objects):
        for track_id in objs:
            starts.setdefault(track_id, frame)
    tracklets = []
    for track_id, start in starts.items():
        boxes, visible, class_name = [], [], None
        for objs in objects[start:]:
            obj = objs.get(track_id)
            if obj is None:
                break
            class_name = class_name or obj.find('name').text
            x1, y1, x2, y2 = (int(obj.find(f'bndbox/{k}').text) for k in ('xmin', 'ymin', 'xmax', 'ymax'))
            boxes.append([x1, y1, x2 - x1, y2 - y1])
            visible.append(obj.find('occluded').text == '0')
        tracklets.append(
            {
                'class_name': class_name,
                'start_frame': start,
                'anno': boxes,
                'target_visible': visible,
                'image_size': image_size,
            }
        )
    return tracklets


def build_vid_cache(storage):
    """All tracklets of Annotations/VID/train, as the list cache.json holds."""
    sequences = []
    for set_name in storage.list_names(ANNOTATION_DIR):
        for video in storage.list_names(f'{ANNOTATION_DIR}/{set_name}'):
            for tracklet in _parse_video(storage, f'{ANNOTATION_DIR}/{set_name}/{video}'):
                sequences.append(
                    {'set_id': int(set_name.split('_')[-1]), 'vid_id': int(video.split('_')[-1]), **tracklet}
                )
    return sequences


class ImagenetVID(BaseVideoDataset):
    layout = (
        '<imagenet_dir>/{Annotations/VID/train/<set>/<video>/*.xml, Data/VID/train/<set>/<video>/000000.JPEG}'
    )

    def __init__(self, root, use_lmdb=False, min_length=0, max_target_area=1, name='imagenetvid'):
        super().__init__(name + ('_lmdb' if use_lmdb else ''), open_storage(root, use_lmdb))
        if use_lmdb or self.storage.exists(CACHE_KEY):  # an LMDB must carry cache.json
            sequences = json.loads(self.storage.read_text(CACHE_KEY))
        else:
            sequences = build_vid_cache(self.storage)
            try:
                atomic_write_text(self.storage.path(CACHE_KEY), json.dumps(sequences))
            except OSError as e:
                warnings.warn(
                    f'could not write the VID cache {self.storage.path(CACHE_KEY)}: {e}', stacklevel=2
                )
        self.sequence_list = [
            s
            for s in sequences
            if len(s['anno']) >= min_length and _first_box_area_ratio(s) < max_target_area
        ]
        self.seq_per_class = self._build_seq_per_class()
        self.class_list = sorted(self.seq_per_class)

    def _load_sequence_info(self, seq_id):
        seq = self.sequence_list[seq_id]
        boxes = np.asarray(seq['anno'], dtype=np.float64).reshape(-1, 4)
        valid = valid_boxes(boxes)
        return to_sequence_info(boxes, valid, np.asarray(seq['target_visible'], dtype=bool) & valid)

    def _frame_location(self, seq_id, frame_id):
        seq = self.sequence_list[seq_id]
        return self.storage, (
            f"Data/VID/train/ILSVRC2015_VID_train_{seq['set_id']:04d}/"
            f"ILSVRC2015_train_{seq['vid_id']:08d}/{frame_id + seq['start_frame']:06d}.JPEG"
        )

    def sequence_name(self, seq_id):
        """The video folder and the tracklet's index (tracklets carry no id of their own)."""
        seq = self.sequence_list[seq_id]
        return f"ILSVRC2015_VID_train_{seq['set_id']:04d}/ILSVRC2015_train_{seq['vid_id']:08d}#{seq_id}"

    def get_meta(self, seq_id):
        return object_meta(self.sequence_list[seq_id]['class_name'])


def _first_box_area_ratio(seq):
    w, h = seq['anno'][0][2:4] if seq['anno'] else (0, 0)
    return (w * h) / max(1, seq['image_size'][0] * seq['image_size'][1])
