"""Vectors for texts, cosine similarity, duplicate groups and top-k search.

Vectors from :class:`inference.engines.onnx.OnnxEmbedder` are unit length, so
cosine is a dot product; the helpers still normalise defensively because
stored vectors may come from elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def embed_texts(embedder, texts: Sequence[str]) -> np.ndarray:
    """(n, dim) float32 unit vectors; ``embedder`` has ``.embed(list[str])`` (engine or EngineProcess)."""
    return np.asarray(embedder.embed(list(texts)), dtype=np.float32)


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    if m.ndim == 1:
        m = m[None, :]
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.clip(n, 1e-12, None)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors."""
    return float((_unit(a) @ _unit(b).T)[0, 0])


def cosine_matrix(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Pairwise cosine between the rows of ``a`` and ``b`` (or ``a`` itself)."""
    ua = _unit(a)
    return ua @ (ua if b is None else _unit(b)).T


def _tile_pairs(unit: np.ndarray, threshold: float, block: int):
    """Yield ``(m, 2)`` index pairs ``i < j`` with cosine >= ``threshold``, one upper-triangle tile at a time."""
    n = unit.shape[0]
    for r0 in range(0, n, block):
        rows = unit[r0:r0 + block]
        for c0 in range(r0, n, block):
            sims = rows @ unit[c0:c0 + block].T
            if c0 == r0:  # diagonal tile: keep j > i only
                sims[np.tril_indices(sims.shape[0], m=sims.shape[1])] = -2.0
            r, c = np.nonzero(sims >= threshold)
            if r.size:
                yield np.stack([r + r0, c + c0], axis=1)


def duplicate_pairs(vectors: np.ndarray, threshold: float, block: int = 2048) -> np.ndarray:
    """``(m, 2)`` int64 array of index pairs ``i < j`` with cosine >= ``threshold``.

    Only the upper triangle is computed, ``block x block`` tiles at a time (one BLAS
    matrix product each): half the work of the full ``n x n`` product.
    """
    found = list(_tile_pairs(_unit(vectors), threshold, block))
    return np.concatenate(found).astype(np.int64) if found else np.zeros((0, 2), dtype=np.int64)


def _roots(parent: np.ndarray, x: np.ndarray) -> np.ndarray:
    r = parent[x]
    while True:
        up = parent[r]
        if np.array_equal(up, r):
            return r
        r = up


def _union(parent: np.ndarray, pairs: np.ndarray) -> None:
    """Merge the components of every pair, vectorised: each root is hooked under a smaller one
    (so a component's root is its smallest index), repeated until every pair shares a root."""
    i, j = pairs[:, 0], pairs[:, 1]
    while True:
        ri, rj = _roots(parent, i), _roots(parent, j)
        diff = ri != rj
        if not diff.any():
            return
        np.minimum.at(parent, np.maximum(ri[diff], rj[diff]), np.minimum(ri[diff], rj[diff]))


def duplicate_groups(vectors: np.ndarray, ids: Sequence, threshold: float = 0.9, block: int = 2048) -> list[list]:
    """Groups (connected components) of items whose pairwise cosine >= ``threshold``.

    Only groups of two or more are returned; each group is sorted by the order of
    ``ids``, and groups are ordered by their first member — deterministic output.
    Pairs come tile by tile (:func:`_tile_pairs`) and are merged at once, so memory is
    ``block x block`` similarities plus one int per item whatever the number of pairs.
    100 000 items on 2 cores: see docs/benchmarks.md (the matrix products dominate).
    """
    n = len(ids)
    if n < 2:
        return []
    parent = np.arange(n)
    for pairs in _tile_pairs(_unit(vectors), threshold, block):
        _union(parent, pairs)
        parent = _roots(parent, np.arange(n))  # flatten: later lookups are one step
    order = np.argsort(parent, kind="stable")
    cuts = np.flatnonzero(np.diff(parent[order])) + 1
    return [[ids[i] for i in g.tolist()] for g in np.split(order, cuts) if len(g) > 1]


def top_k(query: np.ndarray, vectors: np.ndarray, ids: Sequence, k: int = 10,
          min_score: float | None = None) -> list[tuple[object, float]]:
    """The ``k`` most similar items to ``query`` as ``(id, cosine)``, best first (ties by position)."""
    if len(ids) == 0:
        return []
    scores = cosine_matrix(query, vectors)[0]
    order = sorted(range(len(ids)), key=lambda i: (-float(scores[i]), i))[:k]
    return [(ids[i], round(float(scores[i]), 6)) for i in order
            if min_score is None or scores[i] >= min_score]
