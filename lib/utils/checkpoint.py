"""Tensor-only checkpoint reading.

`load_tensors(path)` reads safetensors data (by content, whatever the extension) with safetensors and
.pth/.pth.tar/.bin with `torch.load(weights_only=True)`. Official OSTrack-family checkpoints also pickle
a `settings` object (and stats meters), which weights_only refuses; for those a restricted unpickler
reads the zip archive itself: its `find_class` resolves only the tensor/storage rebuild functions and
OrderedDict and turns every other global into an inert stub, so no code from the file is ever executed.
"""

import collections
import os
import pickle
import zipfile

import torch

WRAPPER_KEYS = ('net', 'model', 'state_dict')

_STORAGE_DTYPES = {
    'FloatStorage': torch.float32,
    'DoubleStorage': torch.float64,
    'HalfStorage': torch.float16,
    'BFloat16Storage': torch.bfloat16,
    'LongStorage': torch.int64,
    'IntStorage': torch.int32,
    'ShortStorage': torch.int16,
    'CharStorage': torch.int8,
    'ByteStorage': torch.uint8,
    'BoolStorage': torch.bool,
    'ComplexFloatStorage': torch.complex64,
    'ComplexDoubleStorage': torch.complex128,
    'UntypedStorage': torch.uint8,
}


class CheckpointError(ValueError):
    """A weights file cannot be read as tensors."""


class InertObject:
    """Stands in for any pickled non-tensor object; construction and state restoring do nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __repr__(self):
        return f'<inert {type(self).__name__}>'


class _StorageType:
    def __init__(self, dtype):
        self.dtype = dtype


def _inert_class(module, name):
    return type(name, (InertObject,), {'__module__': f'inert.{module}'})


def _rebuild_tensor(storage, storage_offset, size, stride, *args):
    return storage.as_strided(tuple(size), tuple(stride), storage_offset)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, *args):
    return storage.view(dtype).as_strided(tuple(size), tuple(stride), storage_offset)


def _rebuild_parameter(data, *args):
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    return func(*args)


_ALLOWED_GLOBALS = {
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor,
    ('torch._utils', '_rebuild_tensor'): _rebuild_tensor,
    ('torch._utils', '_rebuild_tensor_v3'): _rebuild_tensor_v3,
    ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
    ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter,
    ('torch._tensor', '_rebuild_from_type_v2'): _rebuild_from_type_v2,
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('torch', 'Size'): torch.Size,
}


class _TensorOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file, archive, prefix):
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix
        self._storages = {}

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        if module == 'torch' and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        return _inert_class(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == 'storage'):
            raise pickle.UnpicklingError(f'unsupported persistent id {pid!r}')
        storage_type, key = pid[1], str(pid[2])
        dtype = storage_type.dtype if isinstance(storage_type, _StorageType) else torch.uint8
        if key not in self._storages:
            raw = bytearray(self._archive.read(f'{self._prefix}/data/{key}'))
            self._storages[key] = (
                torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
            )
        flat = self._storages[key]
        return flat.view(dtype) if dtype != torch.uint8 else flat


def read_torch_archive(path):
    """The pickled object of a torch zip checkpoint with every non-tensor global replaced by an inert
    stub (tensors share their archive storage). Never imports or calls anything from the file."""
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path}: weights_only loading failed and the file is not a torch zip archive "
            f"(legacy pre-1.6 format with pickled objects is not supported; re-save it)"
        )
    with zipfile.ZipFile(path) as archive:
        pkl_names = [n for n in archive.namelist() if n.endswith('/data.pkl') and n.count('/') == 1]
        if not pkl_names:
            raise CheckpointError(f"{path}: no data.pkl in the zip archive; not a torch checkpoint")
        prefix = pkl_names[0].split('/')[0]
        byteorder = f'{prefix}/byteorder'
        if byteorder in archive.namelist() and archive.read(byteorder).decode().strip() != 'little':
            raise CheckpointError(f"{path}: big-endian checkpoints are not supported")
        with archive.open(pkl_names[0]) as f:
            return _TensorOnlyUnpickler(f, archive, prefix).load()


def read_checkpoint(path):
    """A .pth/.pth.tar/.bin file's top-level object, tensor-safe: weights_only, else the restricted
    reader."""
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError:
        return read_torch_archive(path)


def unwrap_state_dict(obj, path='<checkpoint>'):
    """Descends through 'net' / 'model' / 'state_dict' wrappers and keeps the tensor entries."""
    while isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        key = next((k for k in WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if key is None:
            break
        obj = obj[key]
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"{path}: expected a state dict (or one under 'net'/'model'/'state_dict'), "
            f"got {type(obj).__name__}"
        )
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path}: no tensors found (top-level keys: {sorted(map(str, obj))[:10]})")
    if all(k.startswith('module.') for k in tensors):  # saved from DataParallel/DDP
        tensors = {k[len('module.') :]: v for k, v in tensors.items()}
    return tensors


def is_safetensors_file(path) -> bool:
    """Whether the file holds safetensors data, whatever its extension (the official LoRAT releases are
    safetensors files named .bin): an 8-byte little-endian header length, then a JSON header. A torch
    zip archive starts with 'PK' and a legacy pickle with 0x80, so neither is mistaken for one."""
    path = os.fspath(path)
    if path.endswith('.safetensors'):
        return True
    with open(path, 'rb') as f:
        head = f.read(9)
    header_len = int.from_bytes(head[:8], 'little') if len(head) == 9 else 0
    return head[8:9] == b'{' and 0 < header_len < os.path.getsize(path)


def load_tensors(path):
    """dict[str, Tensor] from .safetensors, .pth, .pth.tar or .bin (tensor-only, CPU); a file holding
    safetensors data is read as safetensors whatever its name."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    if is_safetensors_file(path):
        from safetensors.torch import load_file

        return load_file(path, device='cpu')
    return unwrap_state_dict(read_checkpoint(path), path)
