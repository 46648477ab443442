"""Summaries of one text or several, with a bounded token budget.

A 270M base model is a weak summariser, so the prompt is a plain completion
("Summary:") with greedy decoding, a hard ``max_tokens`` and a newline stop; the
output is checked (non-empty, not a copy of the prompt scaffolding) and falls back
to an extractive summary (leading sentences) so the job never returns garbage.
``grammar=True`` constrains the output to ``{"summary": "..."}`` through an
explicitly compiled JSON-Schema grammar instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

MAX_INPUT_CHARS = 4000


@dataclass
class SummaryResult:
    """``method`` is ``llm``, ``llm-grammar`` or ``extractive`` (fallback)."""

    summary: str
    method: str
    stats: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def extractive_summary(texts: Sequence[str], max_chars: int = 300) -> str:
    """First sentence of each text, joined until ``max_chars``."""
    out: list[str] = []
    for t in texts:
        sents = re.split(r"(?<=[.!?])\s+", t.strip())
        if sents and sents[0]:
            out.append(sents[0])
        if sum(map(len, out)) >= max_chars:
            break
    s = " ".join(out)
    return s if len(s) <= max_chars else s[: max_chars - 1].rsplit(" ", 1)[0] + "…"


def _prompt(texts: Sequence[str]) -> str:
    if len(texts) == 1:
        body = texts[0].strip()[:MAX_INPUT_CHARS]
        return f"Text: {body}\n\nOne-sentence summary of the text:"
    per = max(200, MAX_INPUT_CHARS // len(texts))
    items = "\n".join(f"- {t.strip()[:per]}" for t in texts)[:MAX_INPUT_CHARS]
    return f"Reports:\n{items}\n\nOne-sentence summary of what these reports have in common:"


def summarize(engine, texts: str | Sequence[str], *, max_tokens: int = 64, grammar: bool = False,
              on_progress: Callable[[dict], None] | None = None) -> SummaryResult:
    """Summarise ``texts`` (a string or a list) with ``engine`` (a LlamaEngine) or extractively if None."""
    items = [texts] if isinstance(texts, str) else [t for t in texts if t and t.strip()]
    if not items:
        return SummaryResult(summary="", method="extractive")
    if engine is None:
        return SummaryResult(summary=extractive_summary(items), method="extractive")
    prompt = _prompt(items)
    g = None
    if grammar:
        g = engine.grammar_from_schema({"type": "object", "properties": {
            "summary": {"type": "string", "maxLength": 240}}, "required": ["summary"]})
        prompt += "\nJSON:"
    out = engine.complete(prompt, max_tokens=max_tokens, grammar=g, stop=None if grammar else ["\n\n", "\nText:"],
                          on_progress=on_progress)
    stats = {"prompt_tokens": out.prompt_tokens, "gen_tokens": out.gen_tokens, "ttft_ms": round(out.ttft_ms, 1),
             "total_ms": round(out.total_ms, 1), "tokens_per_s": round(out.tokens_per_s, 1)}
    text = out.text
    if grammar:
        try:
            text = json.loads(text)["summary"]
        except (json.JSONDecodeError, KeyError, TypeError):
            text = ""
    text = text.strip().split("\n")[0].strip()
    if len(text) < 8 or text.lower().startswith(("text:", "reports:")):
        return SummaryResult(summary=extractive_summary(items), method="extractive", stats=stats)
    return SummaryResult(summary=text, method="llm-grammar" if grammar else "llm", stats=stats)
