"""fms CPU inference — a standalone library (no Flask, Dramatiq or ``app`` imports).

Callers (tasks/ actors, app/ API, ``fms`` CLI) pass paths, thread counts and
config in; nothing here reads fms settings. Public API (stable):

Models on disk
    ``inference.models.defaults.ensure_default_models(data_dir) -> dict[str, Path]``
        keys ``llm`` (Gemma-3-270M Q4_K_M GGUF), ``embedder`` (MiniLM int8 ONNX),
        ``tokenizer`` (tokenizer.json), ``models_dir``. Offline, sha256-checked,
        idempotent (fast when present). CLI: ``scripts/install_models.py [DATA_DIR]``.
    ``inference.registry.inspect_model(path, compute_sha256=True) -> ModelInfo``
        format (gguf|onnx), sha256, size, architecture, quantization, context_length,
        parameters, ONNX inputs/outputs; raises ``InvalidModelError`` (clear message)
        for garbage/truncated files. ``ModelInfo.to_dict()`` is JSON-ready.

Engines (one per process; not thread-safe)
    ``inference.engines.llama.LlamaEngine(path, LlamaConfig(n_threads=, n_threads_batch=,
        n_ctx=, n_batch=, chat_format=None -> from GGUF arch))``: ``.complete(prompt,
        max_tokens=, grammar=, stop=, on_progress=) -> Completion`` (text, prompt_tokens,
        gen_tokens, cached_tokens, ttft_ms, total_ms, tokens_per_s), ``.grammar_from_schema``
        (raises ``GrammarError``), ``.score_options``, ``.load_ms``, ``.warmup_ms``, ``.close()``.
    ``inference.engines.onnx.OnnxEmbedder(model_path, tokenizer_path, OnnxConfig(threads=,
        graph_optimization="all"|"extended"|"basic"|"disable"))``: ``.embed(texts) -> (n, 384)``
        float32 unit vectors; ``.close()``.

Jobs
    ``inference.fill.fill(engine, schema, text, today=None, dayfirst=False,
        on_progress=None) -> FillResult`` — ``answers`` (always valid under
        Draft202012Validator with format checks), ``evidence`` {field: [start, end] | None},
        ``stats`` (prompt_tokens, gen_tokens, ttft_ms, total_ms, tokens_per_s, llm_calls),
        ``methods`` {field: how it was filled}; ``.to_dict()``. Raises ``FillError`` only if a
        required field of an unsupported type cannot be produced.
    ``inference.summarize.summarize(engine, text_or_texts, max_tokens=64, grammar=False)
        -> SummaryResult(summary, method, stats)``.
    ``inference.embeddings``: ``embed_texts(embedder, texts)``, ``cosine(a, b)``,
        ``duplicate_groups(vectors, ids, threshold=0.9) -> [[id, ...], ...]``,
        ``top_k(query_vec, vectors, ids, k=10, min_score=None) -> [(id, score), ...]``.

Isolation (what the AI worker should use)
    ``inference.isolation.EngineProcess(EngineSpec(kind="llama"|"onnx", model_path,
        tokenizer_path=None, config={...}), timeout_s=300)``: the model runs in a spawned
        child; ``.fill(schema, text, on_progress=cb, timeout_s=...)``, ``.summarize(texts)``,
        ``.embed(texts)``, ``.complete(prompt, ...)``, ``.call(method, ...)``,
        ``.switch(spec)`` (model switch), ``.restart()``, ``.close()``, ``.load_info``,
        ``.restarts``. ``inference.isolation.default_specs(data_dir, threads)`` gives the
        specs of the default models (``{"llm": EngineSpec, "embedder": EngineSpec}``).
        Progress callbacks receive dicts like ``{"phase": "prefill_done",
        "prompt_tokens": n, "ttft_ms": t}`` / ``{"phase": "generating", "tokens": n}`` /
        ``{"phase": "fields", "done": i, "of": n}``. Errors: ``EngineTimeout`` (child killed
        and restarted), ``EngineCrashed`` (child died, restarted), ``EngineError`` (raised
        in the child; message carries type and text). All three derive from ``EngineError``.

Shared embedder (one MiniLM per host)
    ``inference.embed_server``: ``serve(socket_path, model_path, tokenizer_path)`` (``fms embedder``);
        clients ``embed(socket_path, texts, timeout_s, bulk=False) -> Embedding`` and ``ping``.
        ``bulk=True`` (the AI worker): any number of texts, run one engine batch at a time,
        behind waiting interactive queries.

Benchmarks
    ``inference.bench`` — grid benchmarks and deterministic reports (see its docstring).
"""
