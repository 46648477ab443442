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


def duplicate_groups(vectors: np.ndarray, ids: Sequence, threshold: float = 0.9, block: int = 1024) -> list[list]:
    """Groups (connected components) of items whose pairwise cosine >= ``threshold``.

    Only groups of two or more are returned; each group is sorted by the order of
    ``ids``, and groups are ordered by their first member — deterministic output.
    Similarities are computed ``block`` rows at a time, so memory stays
    ``block x n`` floats instead of ``n x n`` (10 000 items: 40 MB, not 800 MB).
    """
    n = len(ids)
    if n < 2:
        return []
    unit = _unit(vectors)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for start in range(0, n, block):
        rows, cols = np.nonzero(unit[start:start + block] @ unit.T >= threshold)
        for r, j in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + r
            if j > i:
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return [[ids[i] for i in sorted(g)] for _, g in sorted(groups.items()) if len(g) > 1]


def top_k(query: np.ndarray, vectors: np.ndarray, ids: Sequence, k: int = 10,
          min_score: float | None = None) -> list[tuple[object, float]]:
    """The ``k`` most similar items to ``query`` as ``(id, cosine)``, best first (ties by position)."""
    if len(ids) == 0:
        return []
    scores = cosine_matrix(query, vectors)[0]
    order = sorted(range(len(ids)), key=lambda i: (-float(scores[i]), i))[:k]
    return [(ids[i], round(float(scores[i]), 6)) for i in order
            if min_score is None or scores[i] >= min_score]
