"""Type aliases of the public signatures.

``Seed`` is what :func:`numpy.random.default_rng` accepts as a seed (None: fresh entropy).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Seed"]

Seed = int | np.random.SeedSequence | np.random.Generator | None
