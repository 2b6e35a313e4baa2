"""The recommendation service: ``shopscale serve`` (docs/serving.md)."""
