"""GRPO on a softmax policy over a game's decision nodes (MAGIC eq. 5–6, TRL's GRPO).

One step: draw ``seeds_per_step`` seeds from the prior; for the attacker, sample a group of
G = ``num_generations`` attacks per seed and score each against the frozen defender; for
the defender, let the frozen attacker rewrite each seed once and sample G responses to it.
Rewards are realised (MAGIC eq. 7–11, the unsafe outcome drawn per answer, through
:func:`seqgame.model.rollout.realized_rewards`). Advantages are group-relative,
A_i = (r_i − mean_G r) / (std + 1e-4) with ``scale_rewards`` = ``group`` (TRL's default),
``batch`` (std over the whole batch) or ``none``. The objective is the clipped ratio
min(ρA, clip(ρ, 1 ± ε)A) − β·KL(π‖π_ref), maximised by ``num_iterations`` gradient steps
on the same batch (ρ = 1 at the first, where clipping is inactive).

Parameterisations: ``tabular`` (one logit per node and action) or ``features`` (defender:
logits linear in features of the observation, φ(x, a) = onehot(x) ⊗ [1, f(a)] with f the
game's attack features, so training on some attacks moves the answer on unseen ones).

Deviations from MAGIC/TRL, on purpose:
* the loss is summed over groups and averaged within each (a node visited by a group
  moves by a full step whatever the batch size), and the KL gradient is exact at the
  visited nodes instead of TRL's k3 estimate;
* plain gradient ascent on logits (no Adam); optional optimistic step θ += lr·(2g_t − g_{t−1});
* ``exploration`` ε only changes how the policy *acts* for the opponent's training (a
  trembling hand); its own groups and the reported table are ε-free;
* multi-turn games: a group is G episodes from one seed (a defender's group also shares
  the first attack, as MAGIC's groups share the rewritten prompt); every own decision of
  an episode carries the episode's advantage, as every token of a GRPO completion does.
AdvGame options (attacker): ``best_of_k`` scores an attack against the best of K sampled
defender replies (best for the defender); ``pairwise_preference`` replaces each reward by
its win rate against the rest of its group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from seqgame.backends.tabular.layout import Layout, masked_softmax
from seqgame.errors import InvalidConfigError
from seqgame.model.game import Observation, Role, SequentialGame
from seqgame.model.rollout import episode_returns, realized_rewards
from seqgame.model.sampling import sample_rows
from seqgame.training.protocols import Policy
from seqgame.training.table_policy import TablePolicy

SCALE_REWARDS = ("group", "batch", "none")


def group_advantages(rewards: np.ndarray, scale_rewards: str) -> np.ndarray:
    """Group-relative advantages of ``rewards`` ``(N, G)`` (MAGIC eq. 5, TRL ``scale_rewards``)."""
    centred = rewards - rewards.mean(axis=1, keepdims=True)
    if scale_rewards == "group":
        return centred / (rewards.std(axis=1, keepdims=True) + 1e-4)
    if scale_rewards == "batch":
        return centred / (rewards.std() + 1e-4)
    return centred


def pairwise_preference(rewards: np.ndarray) -> np.ndarray:
    """Each reward's win rate (ties ½) against the other members of its group ``(N, G)``."""
    g = rewards.shape[1]
    diff = rewards[:, :, None] - rewards[:, None, :]
    wins = (diff > 0).sum(axis=2) + 0.5 * ((diff == 0).sum(axis=2) - 1)
    return wins / (g - 1)


@dataclass(frozen=True)
class Batch:
    """One GRPO batch: M own decisions drawn in N groups of G episodes.

    Attributes:
        states, actions: int ``(M,)`` decision node and action of each own decision.
        members: int ``(M,)`` the episode (``group·G + member``) each decision belongs to.
        rewards: float ``(N, G)`` episode returns of the learner's role.
    """

    states: np.ndarray
    actions: np.ndarray
    members: np.ndarray
    rewards: np.ndarray


class GRPOLearner:
    """Tabular (or featurised) GRPO learner of one role (see the module docstring)."""

    def __init__(
        self,
        game: SequentialGame,
        role: Role,
        *,
        num_generations: int = 4,
        seeds_per_step: int = 64,
        learning_rate: float = 0.5,
        epsilon: float = 0.2,
        beta: float = 0.0,
        num_iterations: int = 1,
        scale_rewards: str = "group",
        optimistic: bool = False,
        exploration: float = 0.0,
        parameterization: str = "tabular",
        l2: float = 0.0,
        best_of_k: int = 1,
        pairwise_preference: bool = False,
        init_attack: str | None = None,
        init_bias: float = 3.0,
    ) -> None:
        self.game = game
        self._role = Role.parse(role)
        if game.turns > 1 and best_of_k > 1:
            raise InvalidConfigError(
                f"best_of_k = {best_of_k}: single-turn games only ({game.name!r} has "
                f"{game.turns} turns)"
            )
        self.layout = Layout(game, self._role)
        self.num_generations = num_generations
        self.seeds_per_step = seeds_per_step
        self.learning_rate = learning_rate
        self.epsilon = epsilon
        self.beta = beta
        self.num_iterations = num_iterations
        self.scale_rewards = scale_rewards
        self.optimistic = optimistic
        self.exploration = exploration
        self.l2 = l2
        self.best_of_k = best_of_k
        self.use_preference = pairwise_preference
        self.parameterization = parameterization
        self.features = self._features() if parameterization == "features" else None
        s, k = self.layout.n_states, self.layout.n_actions
        rows = s if self.features is None else self.features.shape[1]
        self.weights = np.zeros((rows, k))
        self.init_logits = np.zeros((s, k))
        if init_attack is not None:
            if self._role is not Role.ATTACKER:
                raise InvalidConfigError("init_attack applies to the attacker only")
            self.init_logits[:, game.attack_index(init_attack)] = init_bias
        self.prev_grad = np.zeros_like(self.weights)
        self.updates = 0
        self.ref_probs = masked_softmax(self.logits(), self.layout.mask)

    # ------------------------------------------------------------ parameterisation
    def _features(self) -> np.ndarray:
        game = self.game
        if self._role is not Role.DEFENDER:
            raise InvalidConfigError("parameterization 'features' applies to the defender only")
        if game.features is None:
            raise InvalidConfigError(
                f"parameterization 'features' needs attack features; game {game.name!r} has "
                "none (add 'features' to its spec)"
            )
        f = np.hstack([np.ones((len(game.attacks), 1)), game.features])  # (A, F+1)
        if game.observation is Observation.FULL:
            n_x = len(game.seeds)
            return np.einsum("xy,af->xayf", np.eye(n_x), f).reshape(n_x * len(game.attacks), -1)
        return f

    def logits(self) -> np.ndarray:
        """Float ``(S, K)`` logits of every node."""
        base = self.weights if self.features is None else self.features @ self.weights
        return base + self.init_logits

    def backprop(self, g_logits: np.ndarray) -> np.ndarray:
        """Gradient on the parameters from a gradient on the logits ``(S, K)``."""
        g = g_logits if self.features is None else self.features.T @ g_logits
        return g - self.l2 * self.weights

    def apply(self, grad: np.ndarray) -> None:
        """One ascent step (optimistic if configured)."""
        step = 2.0 * grad - self.prev_grad if self.optimistic else grad
        self.prev_grad = grad
        self.weights = self.weights + self.learning_rate * step

    def probs(self) -> np.ndarray:
        """Float ``(S, K)`` current action probabilities."""
        return masked_softmax(self.logits(), self.layout.mask)

    # ------------------------------------------------------------ protocol
    @property
    def role(self) -> Role:
        """The role trained."""
        return self._role

    def policy(self) -> TablePolicy:
        """Return the current policy (acts with exploration ε; reports the ε-free table)."""
        return TablePolicy(self._role, self.layout.table(self.probs()), self.exploration,
                           self.layout.table(self.layout.mask)[0])

    def train_against(self, opponent: Policy, steps: int,
                      rng: np.random.Generator) -> list[dict[str, float]]:
        """Run ``steps`` GRPO updates against the frozen ``opponent``; one record per step."""
        return [self._step(opponent, rng) for _ in range(steps)]

    def state_dict(self) -> dict[str, Any]:
        """Parameters, optimistic memory and counters."""
        return {"weights": self.weights.copy(), "prev_grad": self.prev_grad.copy(),
                "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output."""
        self.weights = np.array(state["weights"], dtype=float)
        self.prev_grad = np.array(state["prev_grad"], dtype=float)
        self.updates = int(state["updates"])

    # ------------------------------------------------------------ one step
    def sample(self, opponent: Policy, rng: np.random.Generator) -> Batch:
        """One batch of ``seeds_per_step`` groups of G episodes (see :class:`Batch`)."""
        if self.game.turns > 1:
            return self._sample_episodes(opponent, rng)
        game, n, g = self.game, self.seeds_per_step, self.num_generations
        full = game.observation is Observation.FULL
        x = rng.choice(len(game.seeds), size=n, p=game.prior)
        probs = self.probs()
        members = np.arange(n * g)
        if self._role is Role.ATTACKER:
            a = sample_rows(probs[x], rng, g)  # (N, G)
            k = self.best_of_k
            xs = np.repeat(x, g * k)
            aa = np.repeat(a.ravel(), k)
            obs = np.stack([xs, aa], axis=1) if full else aa
            d = np.asarray(opponent.act(obs, rng))
            unsafe = rng.random(xs.size) < game.unsafe[xs, aa, d]
            r_a, r_d = realized_rewards(game, xs, aa, d, unsafe)
            if k > 1:  # the defender keeps its best of K replies (AdvGame)
                best = r_d.reshape(-1, k).argmax(axis=1)
                r_a = r_a.reshape(-1, k)[members, best]
            return Batch(np.repeat(x, g), a.ravel(), members, r_a.reshape(n, g))
        a = np.asarray(opponent.act(x, rng))
        states = self.layout.defender_state(x, a)
        d = sample_rows(probs[states], rng, g)
        xs, aa = np.repeat(x, g), np.repeat(a, g)
        unsafe = rng.random(xs.size) < game.unsafe[xs, aa, d.ravel()]
        _, r_d = realized_rewards(game, xs, aa, d.ravel(), unsafe)
        return Batch(np.repeat(states, g), d.ravel(), members, r_d.reshape(n, g))

    def _sample_episodes(self, opponent: Policy, rng: np.random.Generator) -> Batch:
        """Multi-turn groups: G episodes per seed; every own decision is a sample.

        A defender's group shares the seed and the first attack (the prompt), as MAGIC's
        groups share the rewritten prompt; later turns differ between episodes.
        """
        game, n, g = self.game, self.seeds_per_step, self.num_generations
        n_x, n_a, _ = game.shape
        full = game.observation is Observation.FULL
        x = rng.choice(n_x, size=n, p=game.prior)
        xs = np.repeat(x, g)
        probs = self.probs()
        rewards = np.zeros((n * g, game.turns))
        last = np.zeros(n * g, dtype=np.intp)
        alive = np.ones(n * g, dtype=bool)
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for t in range(game.turns):
            idx = np.flatnonzero(alive)
            if idx.size == 0:
                break
            xt, turn = xs[idx], np.full(idx.size, t)
            if self._role is Role.ATTACKER:
                states = t * n_x + xt
                a = sample_rows(probs[states], rng, 1)[:, 0]
                obs = np.stack([turn, xt, a], axis=1) if full else np.stack([turn, a], axis=1)
                d = np.asarray(opponent.act(obs, rng))
                own = a
            else:
                if t == 0:
                    a = np.repeat(np.asarray(opponent.act(np.stack([turn[::g], x], axis=1),
                                                          rng)), g)
                else:
                    a = np.asarray(opponent.act(np.stack([turn, xt], axis=1), rng))
                states = (t * n_x + xt) * n_a + a if full else t * n_a + a
                d = sample_rows(probs[states], rng, 1)[:, 0]
                own = d
            parts.append((states, own, idx))
            unsafe = rng.random(idx.size) < game.unsafe[xt, a, d]
            r_a, r_d = realized_rewards(game, xt, a, d, unsafe)
            rewards[idx, t] = r_a if self._role is Role.ATTACKER else r_d
            last[idx] = t
            alive[idx] = game.refusal_mask[d]
        returns = episode_returns(game, rewards, last)
        states, actions, members = (np.concatenate(c) for c in zip(*parts, strict=True))
        return Batch(states, actions, members, returns.reshape(n, g))

    def _step(self, opponent: Policy, rng: np.random.Generator) -> dict[str, float]:
        batch = self.sample(opponent, rng)
        rewards = batch.rewards
        scored = pairwise_preference(rewards) if self.use_preference else rewards
        g = rewards.shape[1]
        # every decision of an episode carries the episode's advantage (GRPO's token rule)
        adv = group_advantages(scored, self.scale_rewards).ravel()[batch.members]
        states, actions = batch.states, batch.actions
        s_total, k = self.layout.n_states, self.layout.n_actions
        mask = self.layout.mask
        rows = np.arange(states.size)
        old_p = self.probs()[states, actions]
        flat_a = states * k + actions
        flat_s = (states[:, None] * k + np.arange(k)).ravel()
        clipped = 0.0
        kl = 0.0
        for _ in range(self.num_iterations):
            pi = masked_softmax(self.logits(), mask)[states]
            ratio = pi[rows, actions] / old_p
            active = ~(((adv > 0) & (ratio > 1 + self.epsilon))
                       | ((adv < 0) & (ratio < 1 - self.epsilon)))
            clipped = float(1.0 - active.mean())
            coef = active * ratio * adv / g  # d/dlogit of ρ·A is ρ·A·(onehot − π)
            grad = np.bincount(flat_a, weights=coef, minlength=s_total * k).astype(float)
            grad -= np.bincount(flat_s, weights=(pi * coef[:, None]).ravel(),
                                minlength=s_total * k)
            log_ratio = np.log(np.where(pi > 0, pi, 1.0)) - np.log(
                np.where(pi > 0, self.ref_probs[states], 1.0))
            kl_rows = (pi * log_ratio).sum(axis=1)
            kl = float(kl_rows.mean())
            if self.beta > 0:  # exact KL gradient, weight 1/G per decision (1 per group)
                kl_grad = pi * (log_ratio - kl_rows[:, None]) / g
                grad -= self.beta * np.bincount(flat_s, weights=kl_grad.ravel(),
                                                minlength=s_total * k)
            self.apply(self.backprop(grad.reshape(s_total, k)))
        self.updates += 1
        return {"reward_mean": float(rewards.mean()), "reward_std": float(rewards.std()),
                "clip_fraction": clipped, "kl_ref": kl}
