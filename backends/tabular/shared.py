"""Shared-parameter GRPO: one weight table plays both roles (Self-RedTeam style).

A toy of one model playing both roles: a shared table Z ``(X, A)`` enters the attacker's
logit of attack a at seed x and the defender's logit of every non-refusal answer at
(x, a); each role adds its own head b (L2-penalised by ``l2``: the finite-capacity proxy of
docs/theory.md, so that behaviour must go through Z). With ``share: false`` each role gets its
own Z (same architecture, separate parameters) — the control.

Each step records ``gradient_cosine``: the cosine between the two roles' exact expected
policy gradients on Z at the current profile (negative = the roles pull the shared
weights in opposite directions). Full observation, single turn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqgame.backends.tabular.grpo import GRPOLearner
from seqgame.errors import InvalidConfigError
from seqgame.model.game import Observation, Role, SequentialGame
from seqgame.training.protocols import Policy


class SharedParameters:
    """The shared table Z and its optimistic memory, one per role."""

    def __init__(self, game: SequentialGame) -> None:
        self.z = np.zeros(game.shape[:2])
        self.prev = {Role.ATTACKER: np.zeros_like(self.z), Role.DEFENDER: np.zeros_like(self.z)}


def exact_z_gradients(game: SequentialGame, attacker: np.ndarray,
                      defender: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each role's exact expected policy gradient on Z, float ``(X, A)`` each.

    Args:
        game: single-turn, full-observation game.
        attacker: ``(X, A)`` attacker table.
        defender: ``(X, A, D)`` defender table.
    """
    u_a, u_d = game.payoffs
    prior = game.prior[:, None]
    v_a = np.einsum("xad,xad->xa", defender, u_a)
    g_att = prior * attacker * (v_a - (attacker * v_a).sum(axis=1, keepdims=True))
    v_d = np.einsum("xad,xad->xa", defender, u_d)
    g_logit = (prior * attacker)[:, :, None] * defender * (u_d - v_d[:, :, None])
    g_def = g_logit[:, :, ~game.refusal_mask].sum(axis=2)
    return g_att, g_def


def cosine(u: np.ndarray, v: np.ndarray) -> float:
    """Cosine similarity (0 when either vector is 0)."""
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    return 0.0 if nu == 0 or nv == 0 else float(np.dot(u.ravel(), v.ravel()) / (nu * nv))


class SharedGRPOLearner(GRPOLearner):
    """GRPO whose logits are a role head plus the shared table (see module docstring)."""

    #: Training one role moves the shared table Z, hence the other role's policy.
    shares_parameters = True

    def __init__(self, game: SequentialGame, role: Role, shared: SharedParameters,
                 **options: Any) -> None:
        if game.observation is not Observation.FULL or game.turns != 1:
            raise InvalidConfigError(
                f"shared_grpo needs a single-turn, full-observation game; {game.name!r} has "
                f"{game.turns} turn(s) and observation {game.observation.value!r}"
            )
        if options.get("parameterization", "tabular") != "tabular":
            raise InvalidConfigError("shared_grpo uses its own parameterization: drop the key")
        self.shared = shared
        super().__init__(game, role, **options)

    def _z_logits(self) -> np.ndarray:
        z = self.shared.z
        if self.role is Role.ATTACKER:
            return z
        comply = (~self.game.refusal_mask).astype(float)
        return z.reshape(-1, 1) * comply[None, :]

    def logits(self) -> np.ndarray:
        """Role head + shared contribution, ``(S, K)``."""
        return self.weights + self.init_logits + self._z_logits()

    def backprop(self, g_logits: np.ndarray) -> np.ndarray:
        """Gradient on the role head (L2-penalised); the Z part is kept for :meth:`apply`."""
        if self.role is Role.ATTACKER:
            self._g_z = g_logits.copy()
        else:
            n_x, n_a, _ = self.game.shape
            self._g_z = g_logits[:, ~self.game.refusal_mask].sum(axis=1).reshape(n_x, n_a)
        return g_logits - self.l2 * self.weights

    def apply(self, grad: np.ndarray) -> None:
        """Step the head and the shared table."""
        super().apply(grad)
        g_z = self._g_z
        prev = self.shared.prev[self.role]
        step = 2.0 * g_z - prev if self.optimistic else g_z
        self.shared.prev[self.role] = g_z
        self.shared.z = self.shared.z + self.learning_rate * step

    def state_dict(self) -> dict[str, Any]:
        """Head, shared table and optimistic memories."""
        out = super().state_dict()
        out["z"] = self.shared.z.copy()
        out["z_prev"] = {r.value: p.copy() for r, p in self.shared.prev.items()}
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (both roles restore the same Z)."""
        super().load_state_dict(state)
        self.shared.z = np.array(state["z"], dtype=float)
        self.shared.prev = {Role(r): np.array(p, dtype=float) for r, p in state["z_prev"].items()}

    def train_against(self, opponent: Policy, steps: int,
                      rng: np.random.Generator) -> list[dict[str, float]]:
        """GRPO steps, each recording the two roles' gradient cosine on Z."""
        records = []
        opp = opponent.probabilities(self.game)[0]
        for _ in range(steps):
            rec = self._step(opponent, rng)
            own = self.layout.table(self.probs())[0]
            att, dfd = (own, opp) if self.role is Role.ATTACKER else (opp, own)
            rec["gradient_cosine"] = cosine(*exact_z_gradients(self.game, att, dfd))
            records.append(rec)
        return records
