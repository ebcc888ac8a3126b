"""Sotong moderation: the city's comment policy as an explainable pipeline.

Import :class:`sotong_moderation.pipeline.Pipeline` to judge comments; see README.md
("Pipeline") for the stages and the decision format.
"""

__version__ = "0.1.0"
