"""Test-side utilities (submission packers)."""
