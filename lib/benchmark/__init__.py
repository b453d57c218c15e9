"""Speed benchmarks (tracking/benchmark.py): each area module returns result dicts

    {'name': '<metric>.<script>.<config>.<path>', 'value': float, 'unit': 'frames/s' | 'samples/s',
     'path': 'plain' | <optimised path>, 'ratio_to_plain': float | None, 'notes': str}

tracking.py (tracker FPS at batch 1, batched test throughput), training.py (training samples/s),
data.py (data-loader samples/s per worker), report.py (docs/benchmarks.md and the JSON file).
"""
