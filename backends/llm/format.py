"""The attacker's output format ``<think>…</think><answer>…</answer>`` (MAGIC Phase 1).

:func:`parse_attack` never raises: malformed output (a missing, repeated, nested or empty
tag, text outside the tags, or output longer than ``max_chars``) is reported as
``format_ok = False`` with a reason, and earns the game's format penalty (−r_fmt). The
answer of a malformed output is a best-effort extraction, used only so the defender still
has something to read; the think part is never shown to the defender.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Outputs longer than this are malformed whatever their tags (no regex runs on them).
MAX_CHARS = 20_000

_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_WELL_FORMED = re.compile(
    r"\A\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*\Z", re.DOTALL
)


@dataclass(frozen=True)
class ParsedAttack:
    """An attacker output split into its parts.

    Attributes:
        format_ok: True when the output is exactly one non-empty think block followed by
            one non-empty answer block (whitespace around them allowed).
        think: the reasoning (empty when malformed).
        answer: the rewrite shown to the defender (best effort when malformed).
        reason: why the format failed ("" when ok).
    """

    format_ok: bool
    think: str
    answer: str
    reason: str = ""


def _strip_tags(text: str) -> str:
    for tag in _TAGS:
        text = text.replace(tag, " ")
    return " ".join(text.split())


def parse_attack(text: str, max_chars: int = MAX_CHARS) -> ParsedAttack:
    """Parse an attacker completion; never raises.

    Args:
        text: the raw completion.
        max_chars: longer outputs are malformed ("too long"); the answer is truncated.

    Returns:
        A :class:`ParsedAttack`.
    """
    if not isinstance(text, str):
        return ParsedAttack(False, "", "", f"not a string ({type(text).__name__})")
    if len(text) > max_chars:
        return ParsedAttack(False, "", _strip_tags(text[:max_chars]), "too long")
    counts = {tag: text.count(tag) for tag in _TAGS}
    missing = [tag for tag, n in counts.items() if n == 0]
    repeated = [tag for tag, n in counts.items() if n > 1]
    fallback = _fallback_answer(text)
    if missing:
        return ParsedAttack(False, "", fallback, f"missing {' '.join(missing)}")
    if repeated:
        return ParsedAttack(False, "", fallback, f"repeated {' '.join(repeated)}")
    match = _WELL_FORMED.match(text)
    if match is None:
        return ParsedAttack(False, "", fallback, "tags out of order, nested or text outside")
    think, answer = match.group("think").strip(), match.group("answer").strip()
    if any(tag in think or tag in answer for tag in _TAGS):
        return ParsedAttack(False, "", fallback, "nested tags")
    if not think:
        return ParsedAttack(False, "", answer, "empty think")
    if not answer:
        return ParsedAttack(False, "", fallback, "empty answer")
    return ParsedAttack(True, think, answer)


def _fallback_answer(text: str) -> str:
    """Return the text after the last ``<answer>`` (or after ``</think>``, or all), tags removed."""
    for tag in ("<answer>", "</think>"):
        if tag in text:
            text = text.rsplit(tag, 1)[1]
            break
    return _strip_tags(text)


def format_attack(think: str, answer: str) -> str:
    """Return the well-formed attacker output for ``think`` and ``answer``."""
    return f"<think>{think}</think><answer>{answer}</answer>"
