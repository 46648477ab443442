"""Embedding helpers (duplicates, top-k) with the real int8 MiniLM; summaries with Gemma."""

from __future__ import annotations

import numpy as np

from inference.embeddings import cosine, duplicate_groups, embed_texts, top_k
from inference.summarize import extractive_summary, summarize

TEXTS = [
    "My laptop will not turn on since this morning.",
    "The printer keeps jamming every few pages.",
    "Since this morning my laptop won't power on at all.",
    "I would like to register two people for the conference.",
    "Paper jams in the printer every couple of pages.",
]


def test_duplicates_and_similarity(embedder):
    vecs = embed_texts(embedder, TEXTS)
    assert vecs.shape == (5, 384)
    assert cosine(vecs[0], vecs[2]) > 0.8 > cosine(vecs[0], vecs[3])
    groups = duplicate_groups(vecs, ["a", "b", "c", "d", "e"], threshold=0.7)
    assert groups == [["a", "c"], ["b", "e"]]
    assert duplicate_groups(vecs, list("abcde"), threshold=0.999) == []
    q = embed_texts(embedder, ["printer paper jam"])[0]
    hits = top_k(q, vecs, list("abcde"), k=2)
    assert sorted(h[0] for h in hits) == ["b", "e"] and hits[0][1] >= hits[1][1]


def test_top_k_is_deterministic_on_ties():
    v = np.eye(3, dtype=np.float32)
    hits = top_k(np.ones(3), v, ["x", "y", "z"], k=3)
    assert [h[0] for h in hits] == ["x", "y", "z"]


def test_summarize_one_and_many(llm):
    one = summarize(llm, "The printer on the second floor keeps jamming every few pages, which slows the "
                         "whole office down. We already replaced the paper tray.", max_tokens=32)
    assert one.summary and one.method in ("llm", "extractive")
    assert one.stats["gen_tokens"] <= 32
    many = summarize(llm, TEXTS, max_tokens=24)
    assert many.summary and many.stats["gen_tokens"] <= 24
    g = summarize(llm, TEXTS[0], grammar=True, max_tokens=40)
    assert g.method in ("llm-grammar", "extractive") and g.summary


def test_extractive_fallback_is_bounded():
    s = extractive_summary(["First sentence here. Second one.", "Another text! More."], max_chars=30)
    assert s.startswith("First sentence here.") and len(s) <= 30
    assert summarize(None, ["A. B."]).method == "extractive"
