"""ConditionalSwin core: models, imaging toolkit, inference and command line (no Slicer or Qt imports)."""

__version__ = "0.1.0"
