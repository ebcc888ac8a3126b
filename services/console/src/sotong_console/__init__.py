"""Sotong operator console."""
