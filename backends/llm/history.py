"""Chat histories of multi-turn games, for both roles.

At turn t the attacker sees its seed, its own earlier outputs (think included: they are
its own thoughts) and the defender's earlier replies; the defender sees every earlier
rewrite — the **answer part only**, never ``<think>`` — with its own replies, then the
current rewrite. The MAGIC code drops the first attack from the defender's history and
repeats the last; here turn k's attack is always followed by turn k's reply, in order,
and tests pin it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .format import parse_attack


@dataclass(frozen=True)
class Exchange:
    """One played turn: the attacker's raw output and the defender's reply."""

    attack_output: str
    response: str


def rewrite_of(attack_output: str) -> str:
    """Return what the defender reads of an attacker output: the answer part, never the think."""
    return parse_attack(attack_output).answer


def _toy_followup(turn: int, exchange: Exchange) -> str:
    return f"the defender replied: {exchange.response}"


def attacker_history(
    system: str,
    seed_text: str,
    past: Sequence[Exchange],
    followup: Callable[[int, Exchange], str] = _toy_followup,
) -> list[dict[str, str]]:
    """Build the attacker's prompt messages at turn ``len(past)``.

    Args:
        system: the attacker's system prompt.
        seed_text: the first user message (the seed, as the prompt templates render it).
        past: earlier turns, oldest first.
        followup: ``(turn, exchange)`` → the user message after that exchange, where
            ``turn`` (2, 3, ...) is the number of the attack asked for next.
    """
    messages = [{"role": "system", "content": system}, {"role": "user", "content": seed_text}]
    for t, ex in enumerate(past):
        messages.append({"role": "assistant", "content": ex.attack_output})
        messages.append({"role": "user", "content": followup(t + 2, ex)})
    return messages


def defender_history(
    system: str | None,
    past: Sequence[Exchange],
    current_attack_output: str,
    render: Callable[[str], str] = lambda rewrite: rewrite,
) -> list[dict[str, str]]:
    """Build the defender's prompt messages at turn ``len(past)``.

    Args:
        system: the defender's system prompt (None: no system message).
        past: earlier turns, oldest first.
        current_attack_output: this turn's raw attacker output.
        render: rewrite → user message (e.g. prefix the seed under full observation).
    """
    messages = [] if system is None else [{"role": "system", "content": system}]
    for ex in past:
        messages.append({"role": "user", "content": render(rewrite_of(ex.attack_output))})
        messages.append({"role": "assistant", "content": ex.response})
    messages.append({"role": "user", "content": render(rewrite_of(current_attack_output))})
    return messages
