"""Language-model policies for text games (HF generation on a chat template).

Observations: the attacker's are seed indices (int ``(N,)``); the defender's are
``(seed index, rewrite)`` pairs (the rewrite is the attacker's answer part; the defender
never sees ``<think>``). ``act`` returns completion strings.

``probabilities(game)`` **estimates** the Markov table of the tabular twin by sampling and
judging: the attacker's row at seed x is the histogram of ``n_samples`` rewrites classified
into attacks (malformed included); the defender's row at (x, a) is the histogram of
``n_samples`` replies to the canonical rewrite of (x, a), classified refuse/comply by the
text game's refusal rule; later turns of a multi-turn game are estimated on the refused
path (see :meth:`LMPolicy.probabilities`). ``complete(messages, rng)`` completes chats
given as message lists (multi-turn histories). Estimates use a fixed sampling seed, so a
policy always gets the same table. Sampling draws from the global torch RNG inside a
``fork_rng`` scope seeded from the caller's ``np.random.Generator``, so results are
reproducible and the caller's torch state is left alone.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqgame.errors import InvalidConfigError
from seqgame.model.game import Observation, Role, SequentialGame

from .devices import device_scope
from .distributed import main_value
from .lora import adapter_scope, freeze_copy, frozen_version, strip_forward_patch
from .textgame import TextGame, is_refusal


@dataclass(frozen=True)
class GenerationOptions:
    """Sampling settings of a policy."""

    max_new_tokens: int = 16
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    batch_size: int = 64
    repetition_penalty: float = 1.0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise InvalidConfigError("max_new_tokens and batch_size must be >= 1")
        if not self.temperature > 0:
            raise InvalidConfigError(f"temperature = {self.temperature!r}: use > 0")
        if not self.repetition_penalty > 0:
            raise InvalidConfigError(
                f"repetition_penalty = {self.repetition_penalty!r}: use > 0 (1.0 = none)")

    def sampling_kwargs(self, greedy: bool = False) -> dict[str, Any]:
        """Explicit ``generate`` arguments: the checkpoint's ``generation_config`` never fills in.

        transformers merges a model's saved ``generation_config`` (e.g. Qwen2.5's
        repetition_penalty 1.05) into every value left unset, while TRL's sampling passes
        its own; setting every value here makes the opponent, evaluation and TRL's
        sampling (:meth:`GRPOOptions.generation`) draw from one distribution.
        """
        if greedy:
            return {"do_sample": False, "repetition_penalty": self.repetition_penalty,
                    "temperature": None, "top_k": None, "top_p": None}
        return {"do_sample": True, "temperature": self.temperature, "top_k": self.top_k,
                "top_p": self.top_p, "repetition_penalty": self.repetition_penalty}


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
        adapter: str | None = None,
        table_seeds: np.ndarray | None = None,
    ) -> None:
        self._role = Role.parse(role)
        self.table_seeds = table_seeds
        self.adapter = adapter
        self._frozen_version: int | None = None
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

        self._check_fresh()
        tok, gen = self.tokenizer, self.generation
        tok.padding_side = "left"
        was_training = self.model.training
        self.model.eval()
        out: list[str] = []
        with torch.random.fork_rng(devices=[]), torch.no_grad(), device_scope(self.device), \
                adapter_scope(self.model, self.adapter):
            torch.manual_seed(seed)
            for start in range(0, len(prompts), gen.batch_size):
                chunk = list(prompts[start : start + gen.batch_size])
                enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
                enc = enc.to(self.device)
                ids = self.model.generate(
                    **enc, max_new_tokens=gen.max_new_tokens, pad_token_id=tok.pad_token_id,
                    **gen.sampling_kwargs(greedy),
                )
                out += tok.batch_decode(ids[:, enc["input_ids"].shape[1] :],
                                        skip_special_tokens=True)
        self.model.train(was_training)
        return out

    def act(self, observations: Sequence[Any], rng: np.random.Generator,
            greedy: bool = False) -> list[str]:
        """One completion per observation."""
        return self.generate(self.prompts(observations), int(rng.integers(2**31)), greedy)

    def complete(self, messages: Sequence[list[dict[str, str]]], rng: np.random.Generator,
                 greedy: bool = False) -> list[str]:
        """One completion per chat (message list), e.g. a multi-turn history."""
        prompts = [self.tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
                   for m in messages]
        return self.generate(prompts, int(rng.integers(2**31)), greedy)

    def snapshot(self) -> LMPolicy:
        """Return a frozen copy of this policy.

        With an adapter (LoRA), only the adapter's weights are copied, into
        ``<adapter>_frozen`` on the same model (:func:`~.lora.freeze_copy`); a later
        snapshot of the same role overwrites them, so an older snapshot refuses to act.
        Without one, the whole model is deep-copied after dropping any instance-level
        ``forward`` patch (TRL's fused LM head closes over the live model's forward: a copy
        that kept it would run the live weights; :func:`~.lora.strip_forward_patch`).
        """
        if self.adapter is not None:
            name = freeze_copy(self.model, self.adapter)
            snap = LMPolicy(self._role, self.text_game, self.model, self.tokenizer,
                            self.generation, self.n_samples, self.device, adapter=name,
                            table_seeds=self.table_seeds)
            snap._frozen_version = frozen_version(self.model, name)
            return snap
        frozen = copy.deepcopy(self.model)
        strip_forward_patch(frozen)
        frozen.requires_grad_(False)
        frozen.eval()
        return LMPolicy(self._role, self.text_game, frozen, self.tokenizer, self.generation,
                        self.n_samples, self.device, table_seeds=self.table_seeds)

    def _check_fresh(self) -> None:
        if self._frozen_version is None or self.adapter is None:
            return
        if frozen_version(self.model, self.adapter) != self._frozen_version:
            raise InvalidConfigError(
                f"this {self._role.value} snapshot was overwritten by a later snapshot of the "
                "same role (adapter snapshots share one frozen adapter): take a new snapshot")

    # ---------------------------------------------------------------- tables
    def probabilities(self, game: SequentialGame, seed: int = 0) -> np.ndarray:
        """Estimate by sampling this role's Markov table (see the module docstring).

        Multi-turn games (T > 1): a later turn is reached only after refusals, so turn t is
        estimated on the refused path: the attacker's row (t, x) from its own sampled
        outputs of turns < t, each answered with the canonical refusal; the defender's row
        (t, x, a) after t turns of the canonical rewrite of (x, a), each refused. (An LM's
        policy depends on the whole history; this is its Markov projection on that path.)

        With ``table_seeds`` (the run's held-out seeds, :mod:`~.scoring`) only those seeds'
        rows are sampled; every other seed gets the mean row of measured seeds of its label.
        Under a multi-process launch every process returns the main process's estimate.

        Returns:
            Attacker float ``(T, X, A)``; defender float ``(T, X, A, D)`` under ``full``
            observation, ``(T, A, D)`` under ``attack`` (:meth:`_defender_node_table`).
        """
        n_x = game.shape[0]
        xs = (np.arange(n_x) if self.table_seeds is None
              else np.asarray(self.table_seeds, dtype=int))
        rng = np.random.default_rng(seed)
        if self._role is Role.ATTACKER:
            table = np.stack(self._attacker_tables(game, xs, rng))
        else:
            table = np.stack(self._defender_tables(game, xs, rng))
        # Every process of a launch estimates the same table from the same weights, but GPU
        # sampling need not agree to the bit: all use the main process's (one process: its
        # own), so the loop's choices (e.g. a metric schedule's switch) agree everywhere.
        return main_value(table)

    def _filled(self, table: np.ndarray, game: SequentialGame, xs: np.ndarray) -> np.ndarray:
        """Rows of seeds outside ``table_seeds`` from their label's measured mean row."""
        if self.table_seeds is None:
            return table
        from .scoring import fill_rows

        return fill_rows(table, xs, game.harmful)

    def _attacker_tables(self, game: SequentialGame, xs: np.ndarray,
                         rng: np.random.Generator) -> list[np.ndarray]:
        from .history import Exchange
        from .textgame import REFUSE_TEXT

        tg, n = self.text_game, self.n_samples
        n_x, n_a, _ = game.shape
        obs = [int(x) for x in xs for _ in range(n)]
        pasts: list[tuple[Exchange, ...]] = [()] * len(obs)
        tables = []
        for t in range(game.turns):
            if t == 0:
                texts = self.act(obs, rng)
            else:
                texts = self.complete([tg.attacker_turn_messages(x, p)
                                       for x, p in zip(obs, pasts, strict=True)], rng)
            table = np.zeros((n_x, n_a))
            for x, text in zip(obs, texts, strict=True):
                table[x, tg.classify_attack(text)[0]] += 1
            tables.append(self._filled(table / n, game, xs))
            pasts = [(*p, Exchange(o, REFUSE_TEXT)) for p, o in zip(pasts, texts, strict=True)]
        return tables

    def _defender_tables(self, game: SequentialGame, xs: np.ndarray,
                         rng: np.random.Generator) -> list[np.ndarray]:
        from .history import Exchange
        from .textgame import REFUSE_TEXT

        tg, n = self.text_game, self.n_samples
        n_x, n_a, n_d = game.shape
        refuse = int(np.flatnonzero(game.refusal_mask)[0])
        comply = int(np.flatnonzero(~game.refusal_mask)[0])
        nodes = [(int(x), a) for x in xs for a in range(n_a) for _ in range(n)]
        tables = []
        for t in range(game.turns):
            if t == 0:
                texts = self.act([(x, tg.classify_attack(tg.canonical_attack(x, a))[1])
                                  for x, a in nodes], rng)
            else:
                texts = self.complete([
                    tg.defender_turn_messages(
                        x, (Exchange(tg.canonical_attack(x, a), REFUSE_TEXT),) * t,
                        tg.canonical_attack(x, a))
                    for x, a in nodes], rng)
            table = np.zeros((n_x, n_a, n_d))
            for (x, a), text in zip(nodes, texts, strict=True):
                table[x, a, refuse if is_refusal(text) else comply] += 1
            tables.append(self._defender_node_table(self._filled(table / n, game, xs), game))
        return tables

    @staticmethod
    def _defender_node_table(per_seed: np.ndarray, game: SequentialGame) -> np.ndarray:
        """The defender's rows at its nodes: ``(X, A, D)`` under ``full`` observation.

        Under ``attack`` observation the defender's node is the attack alone, so its row
        at attack a is the prior-weighted mean over seeds of its rows at (x, a), float
        ``(A, D)``: the Markov projection of an LM that reads only the rewrite.
        """
        if game.observation is Observation.FULL:
            return per_seed
        return np.einsum("x,xad->ad", game.prior, per_seed) / float(game.prior.sum())
