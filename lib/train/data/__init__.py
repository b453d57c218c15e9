"""Training data pipeline: sampler, processing, transforms, loaders (imported explicitly, nothing here)."""
