"""Sotong alerting: the pure domain of Seoul's disaster messaging (CAP 1.2, channels, incidents, approval)."""
