"""Summaries of one text or several, with a bounded token budget.

A 270M base model is a weak summariser, so the prompt is a plain completion
("Summary:") with greedy decoding, a hard ``max_tokens`` and a newline stop; the
output is checked (non-empty, not a copy of the prompt scaffolding) and falls back
to an extractive summary (leading sentences) so the job never returns garbage.
``grammar=True`` constrains the output to ``{"summary": "..."}`` through an
explicitly compiled JSON-Schema grammar instead. An instruction-tuned model (its file
name says ``instruct``/``-it``) is asked through its chat template instead.

Every model summary is checked for faithfulness (:func:`unsupported_terms`: a number or
a capitalised name that the source does not contain); an unfaithful one is replaced by
the extractive summary, so the job never reports something the submitter did not write.
"""

from __future__ import annotations

import json
import re
import time
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


_GREETING = re.compile(r"^(?:(?:hello|hi|hey|dear|good (?:morning|afternoon|evening)|greetings)\b[^,.!?]*[,.!]?\s*"
                       r"|(?:i am|i'm) writing (?:to|about|regarding)[^.!?]*[.!?]\s*)", re.IGNORECASE)


def _lead_sentence(text: str) -> str:
    """The first sentence that says something: greetings and "I am writing about..." skipped."""
    rest = text.strip()
    for _ in range(3):
        cut = _GREETING.sub("", rest, count=1)
        if cut == rest or not cut:
            break
        rest = cut
    sents = re.split(r"(?<=[.!?])\s+", rest)
    first = sents[0] if sents and sents[0] else text.strip()
    return first[0].upper() + first[1:] if first else first


def extractive_summary(texts: Sequence[str], max_chars: int = 300) -> str:
    """Lead sentence of each text (greetings skipped), joined until ``max_chars``."""
    out: list[str] = []
    for t in texts:
        lead = _lead_sentence(t)
        if lead:
            out.append(lead)
        if sum(map(len, out)) >= max_chars:
            break
    s = " ".join(out)
    return s if len(s) <= max_chars else s[: max_chars - 1].rsplit(" ", 1)[0] + "…"


_TERM = re.compile(r"\b(?:\d[\d.,:]*\d|\d|[A-Z][\w'-]+)")
_COMMON = {"i", "the", "a", "an", "my", "our", "we", "he", "she", "it", "they", "this", "that", "there", "since",
           "on", "in", "at", "please", "someone", "customer", "user", "submitter", "author", "text", "summary"}


def unsupported_terms(summary: str, source: str) -> list[str]:
    """Numbers and capitalised words of ``summary`` that ``source`` does not contain (case-insensitive).

    A cheap named-entity check: a sentence-initial common word (The, A, Since...) is not a name.
    """
    src = source.lower()
    out = []
    for term in _TERM.findall(summary):
        t = term.lower().strip(".,:")
        if t in _COMMON or not t:
            continue
        if t not in src:
            out.append(term)
    return out


def is_instruct(engine) -> bool:
    """Instruction-tuned GGUF (by its file name): ask through the chat template, not a raw completion."""
    name = str(getattr(engine, "model_path", "")).lower()
    return "instruct" in name or "-it" in name


def _chat_summary(engine, items: Sequence[str], max_tokens: int) -> tuple[str, dict]:
    if len(items) == 1:
        ask = ("Summarise this form submission in one short sentence. Use only facts it states.\n\n"
               + items[0][:MAX_INPUT_CHARS])
    else:
        per = max(200, MAX_INPUT_CHARS // len(items))
        body = "\n".join(f"- {t.strip()[:per]}" for t in items)[:MAX_INPUT_CHARS]
        ask = f"In one short sentence, say what these form submissions have in common.\n\n{body}"
    t0 = time.perf_counter()
    text = engine.chat([{"role": "system", "content": "You write short, factual summaries."},
                        {"role": "user", "content": ask}], max_tokens=max_tokens)
    return text, {"total_ms": round((time.perf_counter() - t0) * 1000, 1)}


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
    if is_instruct(engine) and not grammar:
        text, stats = _chat_summary(engine, items, max_tokens)
        return _checked(text.strip().split("\n")[0].strip(), items, "llm-chat", stats)
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
    return _checked(text.strip().split("\n")[0].strip(), items, "llm-grammar" if grammar else "llm", stats)


def _checked(text: str, items: Sequence[str], method: str, stats: dict) -> SummaryResult:
    """The model's summary if it is usable and faithful, else the extractive one (``stats`` says why)."""
    if len(text) < 8 or text.lower().startswith(("text:", "reports:")):
        return SummaryResult(summary=extractive_summary(items), method="extractive", stats=stats)
    invented = unsupported_terms(text, " ".join(items))
    if invented:
        stats = {**stats, "rejected": text, "unsupported": invented}
        return SummaryResult(summary=extractive_summary(items), method="extractive", stats=stats)
    return SummaryResult(summary=text, method=method, stats=stats)
