"""The llama.cpp and ONNX Runtime engines with the real default models."""

from __future__ import annotations

import numpy as np
import pytest

from inference.engines.llama import GrammarError, compile_json_schema_grammar


def test_llama_config_threads_and_chat_format(llm):
    assert llm.llm.context_params.n_threads == llm.config.n_threads
    assert llm.llm.context_params.n_threads_batch == llm.config.n_threads
    assert llm.chat_format == "gemma"
    assert llm.warmup_ms > 0


def test_completion_is_deterministic_and_reuses_prefix(llm):
    events = []
    a = llm.complete("The capital of France is", max_tokens=8, on_progress=events.append, progress_every=2)
    b = llm.complete("The capital of France is", max_tokens=8)
    assert a.text == b.text and a.gen_tokens >= 1
    assert b.cached_tokens >= a.prompt_tokens - 1
    assert events[0]["phase"] == "prefill_done"
    assert any(e["phase"] == "generating" for e in events)


def test_score_options_prefers_the_likely_answer(llm):
    prefix = [llm.llm.token_bos(), *llm.tokenize("Q: What colour is the sky on a clear day?\nA: It is")]
    opts = [llm.tokenize(" " + o) for o in ["blue", "banana", "seventeen"]]
    scores = llm.score_options(prefix, opts)
    assert scores.index(max(scores)) == 0
    again = llm.score_options(prefix, opts)  # rewinding the cache leaves no trace (batch-size float noise only)
    assert again == pytest.approx(scores, rel=0.02)


def test_grammar_constrains_output(llm):
    schema = {"type": "object", "properties": {"colour": {"type": "string", "enum": ["red", "green"]},
                                               "ok": {"type": "boolean"}}, "required": ["colour", "ok"]}
    out = llm.complete("JSON:", max_tokens=40, grammar=llm.grammar_from_schema(schema))
    import json

    data = json.loads(out.text)
    assert data["colour"] in ("red", "green") and isinstance(data["ok"], bool)


def test_bad_schema_fails_loudly():
    with pytest.raises(GrammarError):
        compile_json_schema_grammar({"type": "object", "properties": {"x": {"$ref": "#/nope"}}})


def test_onnx_embeddings_unit_norm_and_semantic(embedder):
    v = embedder.embed(["The printer is broken", "My printer does not work", "I love pizza"])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3
    assert embedder.embed([]).shape == (0, 384)
