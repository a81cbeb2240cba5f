"""Language-model policies for text games (HF generation on a chat template).

Observations: the attacker's are seed indices (int ``(N,)``); the defender's are
``(seed index, rewrite)`` pairs (the rewrite is the attacker's answer part; the defender
never sees ``<think>``). ``act`` returns completion strings.

``probabilities(game)`` **estimates** the Markov table of the tabular twin by sampling and
judging: the attacker's row at seed x is the histogram of ``n_samples`` rewrites classified
into attacks (malformed included); the defender's row at (x, a) is the histogram of
``n_samples`` replies to the canonical rewrite of (x, a), classified refuse/comply by the
text game's refusal rule. Estimates use a fixed sampling seed, so a policy always gets the
same table. Sampling draws from the global torch RNG inside a ``fork_rng`` scope seeded
from the caller's ``np.random.Generator``, so results are reproducible and the caller's
torch state is left alone.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqgame.errors import InvalidConfigError
from seqgame.game import Role, SequentialGame

from .textgame import TextGame, is_refusal


@dataclass(frozen=True)
class GenerationOptions:
    """Sampling settings of a policy."""

    max_new_tokens: int = 16
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise InvalidConfigError("max_new_tokens and batch_size must be >= 1")
        if not self.temperature > 0:
            raise InvalidConfigError(f"temperature = {self.temperature!r}: use > 0")


class LMPolicy:
    """A policy of one role backed by a causal LM (see the module docstring)."""

    def __init__(
        self,
        role: Role,
        text_game: TextGame,
        model: Any,
        tokenizer: Any,
        generation: GenerationOptions | None = None,
        n_samples: int = 8,
        device: str = "cpu",
    ) -> None:
        self._role = Role.parse(role)
        self.text_game = text_game
        self.model = model
        self.tokenizer = tokenizer
        self.generation = generation or GenerationOptions()
        self.n_samples = n_samples
        self.device = device

    @property
    def role(self) -> Role:
        """The role this policy plays."""
        return self._role

    # ---------------------------------------------------------------- prompts
    def messages(self, observation: Any) -> list[dict[str, str]]:
        """Build the chat messages of one observation."""
        if self._role is Role.ATTACKER:
            return self.text_game.attacker_messages(int(observation))
        seed, rewrite = observation
        return self.text_game.defender_messages(int(seed), str(rewrite))

    def prompts(self, observations: Sequence[Any]) -> list[str]:
        """Chat-templated prompt strings."""
        return [
            self.tokenizer.apply_chat_template(
                self.messages(o), tokenize=False, add_generation_prompt=True
            )
            for o in observations
        ]

    # ---------------------------------------------------------------- acting
    def generate(self, prompts: Sequence[str], seed: int, greedy: bool = False) -> list[str]:
        """Complete each prompt once (sampled with ``seed``, or greedily)."""
        import torch

        tok, gen = self.tokenizer, self.generation
        tok.padding_side = "left"
        was_training = self.model.training
        self.model.eval()
        out: list[str] = []
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            for start in range(0, len(prompts), gen.batch_size):
                chunk = list(prompts[start : start + gen.batch_size])
                enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
                enc = enc.to(self.device)
                kwargs: dict[str, Any] = {"do_sample": not greedy}
                if not greedy:
                    kwargs.update(temperature=gen.temperature, top_k=gen.top_k, top_p=gen.top_p)
                ids = self.model.generate(
                    **enc, max_new_tokens=gen.max_new_tokens, pad_token_id=tok.pad_token_id,
                    **kwargs,
                )
                out += tok.batch_decode(ids[:, enc["input_ids"].shape[1] :],
                                        skip_special_tokens=True)
        self.model.train(was_training)
        return out

    def act(self, observations: Sequence[Any], rng: np.random.Generator,
            greedy: bool = False) -> list[str]:
        """One completion per observation."""
        return self.generate(self.prompts(observations), int(rng.integers(2**31)), greedy)

    def snapshot(self) -> LMPolicy:
        """Return a frozen deep copy (weights copied; cheap for tiny models, costly for 7B)."""
        frozen = copy.deepcopy(self.model)
        frozen.requires_grad_(False)
        return LMPolicy(self._role, self.text_game, frozen, self.tokenizer, self.generation,
                        self.n_samples, self.device)

    # ---------------------------------------------------------------- tables
    def probabilities(self, game: SequentialGame, seed: int = 0) -> np.ndarray:
        """Estimate by sampling this role's Markov table (see the module docstring).

        Returns:
            Attacker float ``(T, X, A)``; defender float ``(T, X, A, D)``. Turns beyond the
            first repeat the first-turn estimate (text games here are single-turn).
        """
        tg = self.text_game
        n_x, n_a, n_d = game.shape
        n = self.n_samples
        if self._role is Role.ATTACKER:
            obs = [x for x in range(n_x) for _ in range(n)]
            texts = self.act(obs, np.random.default_rng(seed))
            table = np.zeros((n_x, n_a))
            for x, text in zip(obs, texts, strict=True):
                table[x, tg.classify_attack(text)[0]] += 1
            table = table / n
        else:
            refuse = int(np.flatnonzero(game.refusal_mask)[0])
            comply = int(np.flatnonzero(~game.refusal_mask)[0])
            obs = [
                (x, tg.classify_attack(tg.canonical_attack(x, a))[1])
                for x in range(n_x) for a in range(n_a) for _ in range(n)
            ]
            texts = self.act(obs, np.random.default_rng(seed))
            table = np.zeros((n_x * n_a, n_d))
            for i, text in enumerate(texts):
                table[i // n, refuse if is_refusal(text) else comply] += 1
            table = (table / n).reshape(n_x, n_a, n_d)
        return np.broadcast_to(table, (game.turns, *table.shape)).copy()
