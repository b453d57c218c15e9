"""COCO 2017 as a tracking dataset: every non-crowd annotation is a one-frame "sequence".

Layout: <root>/annotations/instances_train2017.json and <root>/images/train2017/<file> (OSTrack), or
<root>/train2017/<file> (DropTrack / CompressTracker layout, used when images/ is absent in folder form).
LMDB keys: 'annotations/instances_train2017.json' and 'images/train2017/<file>'. No pycocotools needed;
masks are not provided (OSTrack-family training does not use them).
"""

import json

import numpy as np

from lib.train.dataset.base_video_dataset import BaseVideoDataset, object_meta, to_sequence_info
from lib.train.dataset.storage import open_storage

# The lineage counts a COCO object only above this size in both w and h (OSTrack coco_seq.py).
MIN_BOX_SIZE = 50


class MSCOCOSeq(BaseVideoDataset):
    layout = '<coco_dir>/{annotations/instances_train2017.json, images/train2017/000000000009.jpg}'

    def __init__(self, root, version='2017', split='train', use_lmdb=False, name='coco'):
        super().__init__(name + ('_lmdb' if use_lmdb else ''), open_storage(root, use_lmdb))
        self.anno_key = f'annotations/instances_{split}{version}.json'
        self.image_dir = f'images/{split}{version}'
        if (
            not use_lmdb
            and not self.storage.exists(self.image_dir)
            and self.storage.exists(f'{split}{version}')
        ):
            self.image_dir = f'{split}{version}'
        coco = json.loads(self.storage.read_text(self.anno_key))
        self.categories = {c['id']: c for c in coco.get('categories', [])}
        files = {img['id']: img['file_name'] for img in coco.get('images', [])}
        annotations = [a for a in coco.get('annotations', []) if not a.get('iscrowd', 0)]
        self.sequence_list = [a['id'] for a in annotations]
        self._boxes = np.array([a['bbox'] for a in annotations], dtype=np.float32).reshape(-1, 4)
        self._category = [a['category_id'] for a in annotations]
        self._file = [files[a['image_id']] for a in annotations]
        self.class_list = [c['name'] for c in self.categories.values()]
        self.seq_per_class = self._build_seq_per_class()

    def is_video_sequence(self):
        return False

    def has_class_info(self):
        return True

    def _load_sequence_info(self, seq_id):
        box = self._boxes[seq_id : seq_id + 1]
        valid = (box[:, 2] > MIN_BOX_SIZE) & (box[:, 3] > MIN_BOX_SIZE)
        return to_sequence_info(box, valid, valid)

    def _frame_location(self, seq_id, frame_id):
        return self.storage, f'{self.image_dir}/{self._file[seq_id]}'

    def get_frames(self, seq_id, frame_ids, anno=None, encoded=False):
        """The one image, repeated for every requested frame id (encoded: one shared EncodedImage)."""
        if anno is None:
            anno = self.get_sequence_info(seq_id)
        _, key = self._frame_location(seq_id, 0)
        if encoded:
            frames = [self.storage.read_encoded_image(key)] * len(frame_ids)
        else:
            image = self.storage.read_image(key)
            frames = [image.copy() for _ in frame_ids]
        anno_frames = {key: [value[0, ...].clone() for _ in frame_ids] for key, value in anno.items()}
        return frames, anno_frames, self.get_meta(seq_id)

    def get_meta(self, seq_id):
        category = self.categories.get(self._category[seq_id], {})
        return object_meta(category.get('name'), major_class=category.get('supercategory'))
