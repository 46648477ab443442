"""Themes of a set of submissions: embedding clusters with counts, keywords and representative quotes.

One paragraph from a 270M model says little about 200 submissions; a reader wants "what
are people writing about, how often, in their words". So: spherical k-means on the
unit vectors (k-means++ seeding with a fixed seed, best of 4 restarts: deterministic), k chosen between 2
and ``max_themes`` by the silhouette on cosine distance, clusters smaller than
``min_size`` folded into ``other``. Each theme carries its count, its share, the words
that set it apart (frequent in it, rare elsewhere) and the ``quotes`` texts nearest its
centre — the submitters' own words, never generated text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

_WORD = re.compile(r"[a-z][a-z'-]{2,}")
_STOP = frozenset({
    "the", "and", "for", "was", "were", "are", "with", "that", "this", "have", "has", "had", "but", "not",
    "you", "your", "our", "from", "they", "them", "their", "his", "her", "she", "him", "its", "into", "out",
    "about", "after", "before", "when", "while", "what", "which", "who", "will", "would", "could", "should",
    "been", "being", "there", "here", "than", "then", "also", "just", "very", "all", "any", "some", "one",
    "two", "can", "cannot", "can't", "did", "does", "doing", "done", "because", "since", "over", "under",
    "again", "more", "most", "much", "many", "only", "same", "other", "such", "own", "too", "off", "onto",
    "per", "via", "like", "please", "thanks", "thank", "hello", "dear", "regards",
})


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    return m / np.clip(np.linalg.norm(m, axis=1, keepdims=True), 1e-12, None)


def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator, restarts: int = 4) -> np.ndarray:
    """Labels of the best of ``restarts`` spherical k-means runs (highest total cosine to the centres)."""
    best, best_fit = _kmeans_once(x, k, rng)
    for _ in range(restarts - 1):
        labels, fit = _kmeans_once(x, k, rng)
        if fit > best_fit + 1e-6:
            best, best_fit = labels, fit
    return best


def _kmeans_once(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 30) -> tuple[np.ndarray, float]:
    """One spherical k-means (cosine) run from k-means++ seeds: labels and the fit."""
    centres = [x[int(rng.integers(len(x)))]]
    for _ in range(1, k):
        d = 1.0 - np.max(x @ np.stack(centres).T, axis=1)
        d = np.clip(d, 0, None) ** 2
        centres.append(x[int(rng.choice(len(x), p=d / d.sum()))] if d.sum() > 0 else x[int(rng.integers(len(x)))])
    c = np.stack(centres)
    labels = np.full(len(x), -1)
    for _ in range(iters):
        new = np.argmax(x @ c.T, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = x[labels == j]
            if len(members):
                c[j] = _unit(members.sum(axis=0, keepdims=True))[0]
    return labels, float((x * c[labels]).sum())


def _silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette with cosine distance (n <= a few thousand: the n x n matrix is fine)."""
    dist = 1.0 - x @ x.T
    ks = np.unique(labels)
    if len(ks) < 2:
        return -1.0
    means = np.stack([dist[:, labels == k].mean(axis=1) for k in ks], axis=1)
    own = np.searchsorted(ks, labels)
    sizes = np.array([(labels == k).sum() for k in ks])
    a = means[np.arange(len(x)), own] * sizes[own] / np.maximum(sizes[own] - 1, 1)  # leave self out
    means[np.arange(len(x)), own] = np.inf
    b = means.min(axis=1)
    s = (b - a) / np.maximum(np.maximum(a, b), 1e-9)
    s[sizes[own] == 1] = 0.0
    return float(s.mean())


def _keywords(texts: Sequence[str], members: np.ndarray, n: int = 3) -> list[str]:
    """Words frequent in the cluster and rare outside it (document frequency ratio)."""
    docs = [set(_WORD.findall(t.lower())) - _STOP for t in texts]
    inside = Counter(w for i in members for w in docs[i])
    outside = Counter(w for i in range(len(docs)) if i not in set(members.tolist()) for w in docs[i])
    n_in, n_out = len(members), max(1, len(docs) - len(members))
    score = {w: (c / n_in) - (outside[w] / n_out) for w, c in inside.items() if c >= 2 or n_in == 1}
    return [w for w, _ in sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def _quote(text: str, max_chars: int = 160) -> str:
    t = " ".join(text.split())
    return t if len(t) <= max_chars else t[: max_chars - 1].rsplit(" ", 1)[0] + "…"


def themes(texts: Sequence[str], vectors: np.ndarray, *, max_themes: int = 6, min_size: int = 2,
           quotes: int = 2, seed: int = 0) -> dict:
    """``{"themes": [{"count", "share", "keywords", "quotes"}, ...], "other": n, "k": k}``, biggest first."""
    n = len(texts)
    if n == 0:
        return {"themes": [], "other": 0, "k": 0}
    x = _unit(vectors)
    if n < 2 * min_size:
        labels, k = np.zeros(n, dtype=int), 1
    else:
        best: tuple[float, np.ndarray, int] | None = None
        for k in range(2, max(2, min(max_themes, n // min_size)) + 1):
            lab = _kmeans(x, k, np.random.default_rng(seed))
            score = _silhouette(x, lab)
            if best is None or score > best[0] + 1e-6:
                best = (score, lab, k)
        assert best is not None, "the range of k always holds 2"
        _, labels, k = best
    out: list[dict[str, Any]] = []
    other = 0
    for j in np.unique(labels):
        members = np.flatnonzero(labels == j)
        if len(members) < min_size:
            other += len(members)
            continue
        centre = _unit(x[members].sum(axis=0, keepdims=True))[0]
        near = members[np.argsort(-(x[members] @ centre), kind="stable")][:quotes]
        out.append({"count": len(members), "share": round(len(members) / n, 3),
                    "keywords": _keywords(texts, members), "quotes": [_quote(texts[i]) for i in near]})
    out.sort(key=lambda t: (-t["count"], t["quotes"][0]))
    return {"themes": out, "other": other, "k": int(k)}
