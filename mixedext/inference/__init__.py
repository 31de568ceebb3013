"""Inference on fitted models: t tables and F tests with Satterthwaite or Kenward-Roger
df (``ddf``), likelihood-ratio tests (``lrt``), profile-likelihood and bootstrap
intervals (``profile``)."""

from mixedext.inference.lrt import lrt

__all__ = ["lrt"]
