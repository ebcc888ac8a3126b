"""Seoul geography shared by intake (where is this report?) and alerting (which districts does an alert cover?).

Use the process-wide instance: ``Seoul.load().resolve_point(37.5663, 126.9779)``.
"""

from sotong_common.geo.gazetteer import Seoul
from sotong_common.geo.places import District, Neighbourhood, Place
from sotong_common.geo.shapes import haversine_m

Gazetteer = Seoul
"""Alias for readers who look for the generic name."""

__all__ = ["District", "Gazetteer", "Neighbourhood", "Place", "Seoul", "haversine_m"]
