"""ONNX Runtime sentence embeddings (all-MiniLM style: mean pooling + L2 norm).

Threads are explicit because the AI worker is pinned to a few cores and ORT
otherwise sizes its pool from the whole machine; spinning is off because
ORT's busy-waiting threads burn CPU that the API and other workers share.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GRAPH_LEVELS = ("disable", "basic", "extended", "all")


@dataclass(frozen=True)
class OnnxConfig:
    """How to run the embedder. ``graph_optimization`` is one of GRAPH_LEVELS."""

    threads: int = 2
    graph_optimization: str = "all"
    max_length: int = 256
    batch_size: int = 16
    #: Sort texts by token length and pad per batch (False: batches in arrival order, padded
    #: to their longest text — kept for the benchmark's comparison).
    bucket: bool = True
    #: Upper bound on padded tokens per batch (at most ``batch_size`` texts): long texts go
    #: in smaller batches. On the idle 2-core host 64-text batches ran at 0.8x of 16-text
    #: ones, 8-16 texts with a 1024-token budget was the best of the grid tried.
    max_batch_tokens: int = 1024


class OnnxEmbedder:
    """Embeds texts with an ONNX encoder; one instance per process, not thread-safe."""

    def __init__(self, model_path: str | os.PathLike[str], tokenizer_path: str | os.PathLike[str],
                 config: OnnxConfig | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.config = config or OnnxConfig()
        if self.config.graph_optimization not in GRAPH_LEVELS:
            raise ValueError(f"graph_optimization must be one of {GRAPH_LEVELS}")
        self.model_path = Path(model_path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(self.config.threads))
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        opts.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[self.config.graph_optimization]
        self.session = ort.InferenceSession(str(self.model_path), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_length=self.config.max_length)
        self.tokenizer.no_padding()  # padded per batch in _embed_batch
        self.dim = int(self.session.get_outputs()[0].shape[-1])
        self.embed(["warm-up"])

    def embed(self, texts: list[str]) -> np.ndarray:
        """Return an (n, dim) float32 array of unit-length vectors, in the order of ``texts``."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for idx, vectors in self.iter_batches(texts):
            out[idx] = vectors
        return out

    def iter_batches(self, texts: list[str]) -> Iterator[tuple[list[int], np.ndarray]]:
        """The vectors of ``texts`` one length-bucketed batch at a time: ``(indices into texts, vectors)``.

        What :meth:`embed` runs; the shared embedder steps through it so that a waiting
        query can take the engine between two batches of a long bulk request.
        """
        if not texts:
            return
        encs = self.tokenizer.encode_batch(list(texts))  # one tokenisation pass, unpadded
        for idx in self._batches([len(e.ids) for e in encs]):
            yield idx, self._embed_batch([encs[j] for j in idx])

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Index batches: by length bucket (padding to the longest of a mixed batch cost ~30 %)."""
        bs, n = max(1, self.config.batch_size), len(lengths)
        if not self.config.bucket:
            return [list(range(i, min(n, i + bs))) for i in range(0, n, bs)]
        order = sorted(range(n), key=lambda i: lengths[i])
        batches: list[list[int]] = []
        cur: list[int] = []
        for i in order:
            if cur and (len(cur) >= bs or (len(cur) + 1) * lengths[i] > self.config.max_batch_tokens):
                batches.append(cur)
                cur = []
            cur.append(i)
        return [*batches, cur] if cur else batches

    def _embed_batch(self, encs: list) -> np.ndarray:
        width = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), width), dtype=np.int64)
        mask = np.zeros((len(encs), width), dtype=np.int64)
        for r, e in enumerate(encs):
            ids[r, :len(e.ids)] = e.ids
            mask[r, :len(e.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feeds)[0]
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def close(self) -> None:
        """Drop the session (frees its arena) — call on model switch."""
        self.session = None
