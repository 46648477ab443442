"""The blockwise duplicate grouping agrees with the library's full-matrix one."""

from __future__ import annotations

import numpy as np

from app.ai.service import duplicate_components
from inference.embeddings import duplicate_groups


def test_blockwise_components_match_the_full_matrix_version() -> None:
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(12, 32))
    rows = [c + rng.normal(scale=s, size=32) for c in centers for s in (0.05, 0.1, 0.6)]
    rows += list(rng.normal(size=(40, 32)))
    mat = np.asarray(rows, dtype=np.float32)
    mat /= np.linalg.norm(mat, axis=1, keepdims=True)
    ids = list(range(len(mat)))
    for thr in (0.5, 0.8, 0.95):
        expected = duplicate_groups(mat, ids, threshold=thr)
        assert expected  # the data has near-duplicates at every threshold tried
        assert duplicate_components(mat, thr, block=7) == expected
        assert duplicate_components(mat, thr) == expected
