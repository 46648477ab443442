"""llama.cpp (GGUF) engine through llama-cpp-python.

Pitfalls handled here (SPEC §3): threads are set explicitly for both decode and
batch/prefill from the cores the caller was given (llama.cpp would otherwise
guess from the whole machine); the model is warmed up after load so the first
user request does not pay page-in costs; grammars are compiled explicitly and a
grammar that fails to compile raises instead of silently running unconstrained;
``close()`` frees the native model on switch. A ``Llama`` object is not
thread-safe — one engine per process, called from one thread (see isolation.py).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

if TYPE_CHECKING:
    from llama_cpp.llama_types import (
        ChatCompletionRequestMessage,
        CreateChatCompletionResponse,
        CreateCompletionStreamResponse,
    )

# llama.cpp's OpenMP threads busy-wait at barriers by default. On a host where
# other processes compete for the cores that turns a 2-thread decode from
# ~15 tok/s into ~1.5 tok/s (measured); passive waiting keeps it near the
# 1-thread speed. Must be set before libgomp loads (llama_cpp is imported
# lazily below). A dedicated, pinned worker may export OMP_WAIT_POLICY=ACTIVE.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: GGUF ``general.architecture`` / file-name hints -> llama-cpp-python chat format.
CHAT_FORMATS = {
    "gemma": "gemma", "gemma2": "gemma", "gemma3": "gemma",
    "llama": "llama-3", "mistral": "mistral-instruct", "phi2": "chatml",
    "phi3": "chatml", "qwen2": "chatml", "qwen3": "chatml", "tinyllama": "zephyr",
}


class GrammarError(ValueError):
    """A JSON Schema could not be compiled to a GBNF grammar (never run unconstrained)."""


@dataclass(frozen=True)
class LlamaConfig:
    """Engine settings. ``n_threads_batch`` defaults to ``n_threads``."""

    n_threads: int = 2
    n_threads_batch: int | None = None
    n_ctx: int = 2048
    n_batch: int = 256
    chat_format: str | None = None
    seed: int = 0
    warmup: bool = True


@dataclass
class Completion:
    """One generation and its timings."""

    text: str
    prompt_tokens: int
    gen_tokens: int
    cached_tokens: int
    ttft_ms: float
    total_ms: float
    finish_reason: str = "stop"
    extra: dict = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        """Generation speed after the first token (decode rate)."""
        decode_ms = self.total_ms - self.ttft_ms
        return (self.gen_tokens - 1) / (decode_ms / 1000) if self.gen_tokens > 2 and decode_ms > 1 else 0.0


ProgressFn = Callable[[dict], None]


def guess_chat_format(architecture: str | None, path: str | os.PathLike[str]) -> str | None:
    """Chat format from the GGUF architecture, falling back to the file name."""
    name = Path(path).name.lower()
    if "tinyllama" in name:
        return "zephyr"
    return CHAT_FORMATS.get((architecture or "").lower())


class LlamaEngine:
    """A loaded GGUF model: completion, option scoring, grammar compilation."""

    def __init__(self, model_path: str | os.PathLike[str], config: LlamaConfig | None = None) -> None:
        from llama_cpp import Llama

        self.config = config or LlamaConfig()
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"model file not found: {self.model_path}")
        threads = max(1, int(self.config.n_threads))
        t0 = time.perf_counter()
        self.llm = Llama(
            model_path=str(self.model_path), n_ctx=self.config.n_ctx, n_batch=self.config.n_batch,
            n_threads=threads, n_threads_batch=max(1, int(self.config.n_threads_batch or threads)),
            seed=self.config.seed, logits_all=False, verbose=False,
        )
        self.architecture = self.llm.metadata.get("general.architecture")
        self.chat_format = self.config.chat_format or guess_chat_format(self.architecture, model_path)
        if self.chat_format:
            self.llm.chat_format = self.chat_format
        self.load_ms = (time.perf_counter() - t0) * 1000
        self.warmup_ms = 0.0
        self.n_vocab = self.llm.n_vocab()
        if self.config.warmup:
            t1 = time.perf_counter()
            self.complete("Hello", max_tokens=2)
            self.warmup_ms = (time.perf_counter() - t1) * 1000

    # -- tokens -------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = False) -> list[int]:
        """Tokenize without special-token parsing (user text must never inject control tokens)."""
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=False)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self.llm.detokenize(list(tokens)).decode("utf-8", errors="replace")

    # -- grammar ------------------------------------------------------------------------
    def grammar_from_schema(self, schema: dict):
        """Compile a JSON Schema to a LlamaGrammar, raising GrammarError when it cannot."""
        return compile_json_schema_grammar(schema)

    # -- generation ---------------------------------------------------------------------
    def complete(self, prompt: str, max_tokens: int = 128, grammar=None, stop: list[str] | None = None,
                 temperature: float = 0.0, on_progress: ProgressFn | None = None,
                 progress_every: int = 8) -> Completion:
        """Greedy (by default) completion of a raw prompt, streaming for TTFT and progress.

        Re-uses the KV cache for the longest common token prefix with the previous
        call, so a constant few-shot prefix is evaluated once per process.
        """
        tokens = [self.llm.token_bos(), *self.tokenize(prompt)]
        cached = _common_prefix(self.llm.input_ids[: self.llm.n_tokens], tokens)
        t0 = time.perf_counter()
        ttft = None
        parts: list[str] = []
        n_gen = 0
        finish = "length"
        # stream=True yields chunks; llama-cpp-python's return type does not narrow on it
        stream = cast("Iterator[CreateCompletionStreamResponse]", self.llm.create_completion(
            tokens, max_tokens=max_tokens, temperature=temperature, top_k=1 if temperature == 0 else 40,
            repeat_penalty=1.0, stop=stop or [], grammar=grammar, stream=True, seed=self.config.seed,
        ))
        for chunk in stream:
            choice = chunk["choices"][0]
            if ttft is None:
                ttft = (time.perf_counter() - t0) * 1000
                if on_progress:
                    on_progress({"phase": "prefill_done", "prompt_tokens": len(tokens), "ttft_ms": ttft})
            parts.append(choice.get("text", ""))
            n_gen += 1
            if on_progress and n_gen % progress_every == 0:
                on_progress({"phase": "generating", "tokens": n_gen})
            if reason := choice.get("finish_reason"):
                finish = reason
        total = (time.perf_counter() - t0) * 1000
        return Completion(text="".join(parts), prompt_tokens=len(tokens), gen_tokens=n_gen,
                          cached_tokens=cached, ttft_ms=ttft if ttft is not None else total,
                          total_ms=total, finish_reason=finish)

    def chat(self, messages: list[ChatCompletionRequestMessage], max_tokens: int = 256, grammar=None) -> str:
        """Chat completion using the model's chat format (instruction-tuned models)."""
        # not streamed, so one response; llama-cpp-python's return type does not narrow on stream
        out = cast("CreateChatCompletionResponse", self.llm.create_chat_completion(
            messages=messages, max_tokens=max_tokens, temperature=0.0, grammar=grammar))
        return out["choices"][0]["message"]["content"] or ""

    # -- scoring ------------------------------------------------------------------------
    def prime(self, prefix_tokens: Sequence[int]) -> int:
        """Make the KV cache hold exactly ``prefix_tokens`` (re-using any common prefix).

        Returns how many tokens had to be evaluated. Keeps the last position's logits.
        """
        llm = self.llm
        common = _common_prefix(llm.input_ids[: llm.n_tokens], prefix_tokens)
        if common == len(prefix_tokens):
            common -= 1  # re-evaluate the last token to refresh its logits
        llm.n_tokens = common
        todo = list(prefix_tokens[common:])
        self._last_logits = self._decode(todo, all_logits=False)[-1]
        return len(todo)

    def score_options(self, prefix_tokens: Sequence[int], options: Sequence[Sequence[int]]) -> list[float]:
        """Sum of log-probabilities of each option's tokens after ``prefix_tokens``.

        The prefix is evaluated once; each option is decoded as one batch with
        logits for every position, then the cache is rewound to the prefix.
        """
        self.prime(prefix_tokens)
        base = self.llm.n_tokens
        first = _log_softmax(self._last_logits)
        scores = []
        for opt in options:
            opt = list(opt)
            total = float(first[opt[0]])
            if len(opt) > 1:
                rows = self._decode(opt[:-1])
                for j in range(1, len(opt)):
                    total += float(_log_softmax(rows[j - 1])[opt[j]])
                self.llm.n_tokens = base
            scores.append(total)
        return scores

    def _decode(self, tokens: list[int], all_logits: bool = True) -> np.ndarray:
        """Decode ``tokens`` after the current cache; logits for every position or only the last.

        Gemma's output layer (262k vocab) costs more than the rest of a 270M model,
        so prefill asks for the last position's logits only.
        """
        llm = self.llm
        llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
        rows: list[np.ndarray] = []
        step = llm.n_batch
        for i in range(0, len(tokens), step):
            batch = tokens[i:i + step]
            n_past = llm.n_tokens
            llm._batch.set_batch(batch=batch, n_past=n_past, logits_all=all_logits)
            llm._ctx.decode(llm._batch)
            n_rows = len(batch) if all_logits else 1
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_rows * self.n_vocab,))
            block = logits.reshape(n_rows, self.n_vocab)
            if all_logits or i + step >= len(tokens):
                rows.append(block.copy())
            llm.input_ids[n_past:n_past + len(batch)] = batch
            llm.n_tokens += len(batch)
        llm._requires_eval = True  # our logits are not the sampler's; force a re-eval before sampling
        return np.concatenate(rows, axis=0) if rows else np.zeros((0, self.n_vocab), np.float32)

    def close(self) -> None:
        """Free the native model and context (call before loading another model)."""
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.close()
            self.llm = None  # type: ignore[assignment]


def compile_json_schema_grammar(schema: dict):
    """JSON Schema -> LlamaGrammar, or GrammarError. Never returns None."""
    from llama_cpp import LlamaGrammar

    try:
        grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    except Exception as exc:
        raise GrammarError(f"JSON Schema could not be compiled to a grammar: {exc}") from exc
    if grammar is None or not getattr(grammar, "_grammar", "x"):
        raise GrammarError("JSON Schema compiled to an empty grammar")
    return grammar


def _common_prefix(a: Iterable[int], b: Iterable[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _log_softmax(row: np.ndarray) -> np.ndarray:
    row = row.astype(np.float64)
    m = row.max()
    return row - m - np.log(np.exp(row - m).sum())
