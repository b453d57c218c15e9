"""The benchmark's outputs: docs/benchmarks.md (a table per area with the machine, the versions and
the date) and a JSON file with the same figures under their stable names."""

import datetime
import json
import os
import platform

SECTIONS = (
    ('tracker_fps', 'Tracker FPS at batch 1 (full per-frame step with preprocessing)'),
    ('batched_fps', 'Batched evaluation throughput (--batch_sequences K)'),
    ('train_samples_per_s', 'Training samples/s (full step: forward, loss, backward, optimizer)'),
    ('loader_samples_per_s_per_worker', 'Data loader samples/s per worker'),
    ('half_agreement', 'Half precision against fp32 on a trained checkpoint (boxes frame by frame)'),
)


def environment(device):
    """Machine and versions, for the report header and the JSON 'meta'."""
    import cv2
    import numpy
    import timm
    import torch

    meta = {
        'date': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
        'python': platform.python_version(),
        'torch': torch.__version__,
        'timm': timm.__version__,
        'opencv': cv2.__version__,
        'numpy': numpy.__version__,
        'platform': platform.platform(),
        'cpu': platform.processor() or platform.machine(),
        'cpu_count': os.cpu_count(),
        'torch_threads': torch.get_num_threads(),
        'device': str(device),
    }
    if str(device).startswith('cuda') and torch.cuda.is_available():
        meta['gpu'] = torch.cuda.get_device_name(device)
        meta['cuda'] = torch.version.cuda
    return meta


def _fmt(value):
    return '' if value is None else (f'{value:.2f}' if abs(value) < 100 else f'{value:.0f}')


def markdown(results, meta, command, findings=()):
    device_type = meta['device'].split(':')[0].upper()
    lines = [
        f'# OneStream benchmarks: {device_type}',
        '',
        f"Measured {meta['date']} with `{command}`.",
        '',
        f"Device: {meta.get('gpu', meta['device'])}"
        + (f" (CUDA {meta['cuda']})" if 'cuda' in meta else '')
        + f"; CPU: {meta['cpu']}, {meta['cpu_count']} cores, {meta['torch_threads']} torch threads; "
        f"{meta['platform']}.",
        f"Versions: Python {meta['python']}, torch {meta['torch']}, timm {meta['timm']}, "
        f"OpenCV {meta['opencv']}, NumPy {meta['numpy']}.",
        '',
        "`plain` is the reference path, which works the way the official code does (fp32, explicit "
        "softmax attention, numpy/cv2 crops, one sequence per forward); the ratio is each path's "
        "figure over the plain one. Random weights, except where a row names a checkpoint: the figures "
        "measure speed, and the box agreement in the notes is measured on the same weights.",
        '',
    ]
    for prefix, title in SECTIONS:
        rows = [r for r in results if r['name'].split('.')[0] == prefix]
        if not rows:
            continue
        lines += [
            f'## {title}',
            '',
            '| name | value | unit | x plain | notes |',
            '| --- | ---: | --- | ---: | --- |',
        ]
        lines += [
            f"| `{r['name']}` | {_fmt(r['value'])} | {r['unit']} | {_fmt(r['ratio_to_plain'])} | "
            f"{r['notes']} |"
            for r in rows
        ]
        lines.append('')
    if findings:
        lines += ['## Against the targets', ''] + [f'- {f}' for f in findings] + ['']
    return '\n'.join(lines)


def merge_device_block(existing, device_type, block):
    """The report text with this device type's block replaced (or added); other devices' blocks stay, so
    a CPU run and a GPU run (on different machines) share one docs/benchmarks.md."""
    begin, end = f'<!-- benchmark: {device_type} -->', f'<!-- end benchmark: {device_type} -->'
    new = f'{begin}\n{block.strip()}\n{end}\n'
    if existing and begin in existing and end in existing:
        head, rest = existing.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip('\n')
        return head + new + ('\n' + tail if tail else '')
    if existing and existing.strip():
        return existing.rstrip('\n') + '\n\n' + new
    return new


def write_outputs(results, meta, command, doc_path=None, json_path=None, findings=()):
    """Writes the markdown (this device type's block of it) and/or JSON atomically; returns the paths."""
    from lib.utils.io import atomic_write_text

    written = []
    if doc_path:
        os.makedirs(os.path.dirname(os.path.abspath(doc_path)), exist_ok=True)
        existing = open(doc_path, encoding='utf-8').read() if os.path.isfile(doc_path) else ''
        device_type = meta['device'].split(':')[0]
        block = markdown(results, meta, command, findings)
        atomic_write_text(doc_path, merge_device_block(existing, device_type, block))
        written.append(doc_path)
    if json_path:
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        payload = {'meta': dict(meta, command=command), 'results': results, 'findings': list(findings)}
        atomic_write_text(json_path, json.dumps(payload, indent=1))
        written.append(json_path)
    return written
