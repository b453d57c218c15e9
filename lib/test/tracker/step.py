"""NetworkStep: a tracker's per-frame network step run eagerly, under torch.compile, or as a CUDA graph.

The step is a function of tensors (None allowed for absent inputs) returning a dict whose values are
tensors, None, or tuples of those. Precision: the function's network part is wrapped by the tracker in
`autocast(device, precision)`; everything else stays fp32.

'cudagraph' captures the function once per input signature (shapes, dtypes, which inputs are None)
into static input buffers, after a few warm-up runs on a side stream (which also fills lazily built
caches such as the Hann window); a call copies its inputs into the buffers and replays. The returned
tensors are the graph's static outputs: read them before the next call.
"""

import contextlib

import torch

DTYPES = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}
CUDAGRAPH_WARMUP = 3
# torch.compile arguments of the 'compile' mode (fixed shapes: one batch size per tracker or batch run).
COMPILE_KWARGS = {'dynamic': False}


def autocast(device, precision):
    """torch.autocast for 'bf16' / 'fp16' on `device`; a null context for 'fp32'."""
    dtype = DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def _signature(inputs):
    return tuple(None if t is None else (tuple(t.shape), t.dtype) for t in inputs)


def _copy_into(static, value):
    if isinstance(static, torch.Tensor):
        static.copy_(value)


class NetworkStep:
    """fn(*tensors) -> dict, run per `mode`: 'off' | 'compile' | 'cudagraph'."""

    def __init__(self, fn, device, mode='off'):
        self.fn = fn
        self.device = torch.device(device)
        self.mode = mode
        self._compiled = None
        self._graphs = {}  # input signature -> (graph, static inputs, static outputs)
        self._pool = None
        if mode == 'cudagraph' and self.device.type != 'cuda':
            raise ValueError(f"compile='cudagraph' needs a CUDA device, got '{self.device}'")

    def __call__(self, *inputs):
        if self.mode == 'off':
            return self.fn(*inputs)
        if self.mode == 'compile':
            if self._compiled is None:
                self._compiled = torch.compile(self.fn, **COMPILE_KWARGS)
            return self._compiled(*inputs)
        return self._replay(inputs)

    def _replay(self, inputs):
        key = _signature(inputs)
        if key not in self._graphs:
            self._graphs[key] = self._capture(inputs)
        graph, static_inputs, static_outputs = self._graphs[key]
        for static, value in zip(static_inputs, inputs):
            _copy_into(static, value)
        graph.replay()
        return static_outputs

    def _capture(self, inputs):
        static_inputs = [None if t is None else t.clone() for t in inputs]
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(CUDAGRAPH_WARMUP):
                self.fn(*static_inputs)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            static_outputs = self.fn(*static_inputs)
        return graph, static_inputs, static_outputs
