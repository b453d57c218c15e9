"""Backbones of the one-stream trackers."""
