"""Embedding helpers (duplicates, top-k, themes, the duplicate threshold) with the real int8 MiniLM;
summaries with Gemma and the faithfulness guard."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from inference.embeddings import cosine, duplicate_groups, duplicate_pairs, embed_texts, top_k
from inference.engines.onnx import OnnxConfig, OnnxEmbedder
from inference.summarize import _checked, extractive_summary, summarize, unsupported_terms
from inference.themes import themes

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


PAIRS = Path(__file__).resolve().parents[1] / "data" / "duplicates" / "pairs.jsonl"


def test_default_duplicate_threshold_on_labelled_pairs(embedder):
    """The shipped default separates hand-written paraphrases from same-topic non-duplicates."""
    from app.settings import Settings

    rows = [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]
    labels = np.array([r["duplicate"] for r in rows])
    assert labels.sum() >= 60 and (~labels).sum() >= 60 and len({r["domain"] for r in rows}) >= 10
    cos = (embed_texts(embedder, [r["a"] for r in rows]) * embed_texts(embedder, [r["b"] for r in rows])).sum(axis=1)
    pred = cos >= Settings().duplicate_threshold
    tp = int((pred & labels).sum())
    precision, recall = tp / max(1, int(pred.sum())), tp / int(labels.sum())
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    old = cos >= 0.9  # the former default: precise but blind to paraphrases
    assert int((old & labels).sum()) / int(labels.sum()) < 0.5


def test_duplicate_pairs_match_brute_force_on_every_tiling():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(30, 16))
    mat = np.vstack([base, base[:12] + rng.normal(scale=0.1, size=(12, 16)), rng.normal(size=(25, 16))])
    unit = mat / np.linalg.norm(mat, axis=1, keepdims=True)
    full = unit @ unit.T
    want = {(i, j) for i in range(len(unit)) for j in range(i + 1, len(unit)) if full[i, j] >= 0.8}
    assert want
    for block in (1, 7, 16, 67, 500):
        assert {tuple(p) for p in duplicate_pairs(mat, 0.8, block=block).tolist()} == want


def test_length_buckets_keep_order_and_vectors(model_paths):
    texts = [TEXTS[i % len(TEXTS)] * (1 + i % 4) for i in range(23)] + ["Short."]
    bucketed = OnnxEmbedder(model_paths["embedder"], model_paths["tokenizer"],
                            OnnxConfig(threads=1, batch_size=4, max_batch_tokens=200))
    plain = OnnxEmbedder(model_paths["embedder"], model_paths["tokenizer"], OnnxConfig(threads=1, bucket=False))
    lengths = [len(e.ids) for e in bucketed.tokenizer.encode_batch(texts)]
    batches = bucketed._batches(lengths)
    assert sorted(i for b in batches for i in b) == list(range(len(texts)))
    assert all(len(b) * max(lengths[i] for i in b) <= 200 or len(b) == 1 for b in batches)
    one_by_one = np.vstack([plain.embed([t]) for t in texts])
    assert np.allclose(bucketed.embed(texts), one_by_one, atol=1e-4)  # padding never leaks into a vector


def test_themes_cluster_submissions_with_counts_and_quotes(embedder):
    printers = ["The printer keeps jamming on every page.", "Paper gets stuck in the office printer all day.",
                "Printer on floor two jams constantly.", "The printer is jammed again, paper stuck inside."]
    heating = ["It is freezing, the heating in room 4 is off.", "No heating in the classrooms, pupils wear coats.",
               "The radiators are cold and the heating does not work."]
    leave = ["I would like annual leave from 1 to 5 May.", "Requesting holiday leave for two weeks in August."]
    texts = printers + heating + leave + ["The canteen coffee is great."]
    out = themes(texts, embed_texts(embedder, texts), max_themes=5)
    counts = sorted(t["count"] for t in out["themes"])
    assert sum(counts) + out["other"] == len(texts)
    top = out["themes"][0]
    assert top["count"] == 4 and all(q in printers for q in top["quotes"]) and "printer" in top["keywords"]
    assert any(set(t["quotes"]) <= set(heating) and t["count"] >= 2 for t in out["themes"])
    assert not any(set(t["quotes"]) & set(printers) and set(t["quotes"]) & set(leave) for t in out["themes"])
    assert themes(texts, embed_texts(embedder, texts), max_themes=5) == out  # deterministic
    assert themes([], np.zeros((0, 384)))["themes"] == []


def test_unfaithful_model_summary_falls_back_to_extractive():
    """A model answer naming a person and a date the text lacks is replaced by the text's own words."""
    text = "The printer on the second floor keeps jamming every few pages. We replaced the tray."
    invented = "Mr Jones reported on 12 June that the printer jams."
    assert unsupported_terms(invented, text) == ["Mr", "Jones", "12", "June"]
    assert unsupported_terms("The printer on the second floor keeps jamming.", text) == []
    res = _checked(invented, [text], "llm-chat", {})
    assert res.method == "extractive" and res.summary.startswith("The printer on the second floor")
    assert res.stats["unsupported"] == ["Mr", "Jones", "12", "June"] and res.stats["rejected"] == invented
    kept = _checked("The second-floor printer keeps jamming.", [text], "llm-chat", {})
    assert kept.method == "llm-chat"


def test_exact_fp32_minilm_is_derived_offline_and_agrees_with_the_shipped_int8(model_paths, embedder):
    """The fp32 reference comes from the int8 graph + the tokenizer package's safetensors, sha256-pinned."""
    from inference.models.defaults import MINILM_FP32_SHA256, ensure_fp32_minilm, sha256_file

    path = ensure_fp32_minilm(model_paths["models_dir"])
    assert sha256_file(path) == MINILM_FP32_SHA256
    assert ensure_fp32_minilm(model_paths["models_dir"]) == path  # idempotent: the sidecar short-cuts
    fp32 = OnnxEmbedder(path, model_paths["tokenizer"], OnnxConfig(threads=1))
    cos = (fp32.embed(TEXTS) * embedder.embed(TEXTS)).sum(axis=1)
    assert cos.min() > 0.998 and cos.max() < 1.0 - 1e-7  # close to the int8 file, but not the same weights


def test_duplicate_groups_match_components_of_the_full_matrix():
    """Chains (a~b, b~c, a!~c) and many small groups: same components as a breadth-first search."""
    rng = np.random.default_rng(11)
    walk = np.cumsum(rng.normal(scale=0.25, size=(40, 24)), axis=0) + 3 * rng.normal(size=24)  # a long chain
    blobs = np.vstack([c + rng.normal(scale=0.15, size=(4, 24)) for c in rng.normal(size=(15, 24))])
    mat = np.vstack([rng.normal(size=(30, 24)), walk, blobs]).astype(np.float32)
    order = rng.permutation(len(mat))
    mat = mat[order]
    unit = mat / np.linalg.norm(mat, axis=1, keepdims=True)
    adj = unit @ unit.T >= 0.85
    seen, want = set(), []
    for s in range(len(mat)):
        if s in seen:
            continue
        comp, todo = {s}, [s]
        while todo:
            for j in np.flatnonzero(adj[todo.pop()]).tolist():
                if j not in comp:
                    comp.add(j)
                    todo.append(j)
        seen |= comp
        if len(comp) > 1:
            want.append(sorted(comp))
    assert max(map(len, want)) > 10  # the walk really chains
    ids = [f"s{i:03d}" for i in range(len(mat))]
    for block in (5, 64, 2048):
        assert duplicate_groups(mat, ids, threshold=0.85, block=block) == [[ids[i] for i in g] for g in want]
