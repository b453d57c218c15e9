"""Building blocks shared by the one-stream trackers (attention, ViT block, patch embedding, heads)."""
