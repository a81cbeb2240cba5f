"""Safety in expectation over the defender's posterior: the guarantee hidden seeds leave.

:func:`posterior_safety` checks that every supported answer has r_D ≥ 0 in expectation over
the belief μ_h at its information set (on the path Bayes' rule, off the path the prior over
the seeds allowed to send the attack, :func:`default_beliefs`), and reports the posterior
and the robust (worst-case over senders) fallback values (docs/theory.md, "Hidden seed").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgame.model.game import Observation, SequentialGame
from seqgame.model.infosets import defender_nodes, require_single_turn
from seqgame.model.profile import Profile


@dataclass(frozen=True, eq=False)
class PosteriorSafetyReport:
    """The guarantee that survives hidden seeds: safety in expectation over the posterior.

    Attributes:
        safe: every supported answer has posterior-expected reward ≥ 0 at every
            information set (off path with the given or default beliefs).
        node_labels: information-set names.
        beliefs: float ``(H, X)``; posterior_reward: float ``(H, D)``, Σ_x μ_h(x) r_D.
        fallback: float ``(H,)``, max_d of posterior_reward (the posterior fallback value).
        robust_fallback: float ``(H,)``, max_d min over senders of r_D: ≥ 0 iff some answer
            is safe whatever the hidden seed (the worst-case criterion of docs/theory.md).
        violations: ``(label, response, posterior reward, probability)`` tuples.
    """

    safe: bool
    node_labels: tuple[str, ...]
    beliefs: np.ndarray
    posterior_reward: np.ndarray
    fallback: np.ndarray
    robust_fallback: np.ndarray
    violations: tuple[tuple[str, str, float, float], ...]

    def to_json(self) -> dict:
        """JSON-ready summary."""
        return {
            "posterior": self.safe,
            "violations": [{"node": n, "response": r, "posterior_reward": v, "probability": p}
                           for n, r, v, p in self.violations],
            "fallback": dict(zip(self.node_labels, map(float, self.fallback), strict=True)),
            "robust_fallback": dict(zip(self.node_labels, map(float, self.robust_fallback),
                                        strict=True)),
        }


def default_beliefs(game: SequentialGame, profile: Profile) -> np.ndarray:
    """Bayes' rule on the path; the prior over allowed senders off the path. ``(H, X)``."""
    nodes = defender_nodes(game)
    n_x = len(game.seeds)
    out = np.zeros((nodes.count, n_x))
    for h in range(nodes.count):
        a = nodes.attack[h]
        senders = nodes.index[:, a] == h
        w = game.prior * profile.attacker[0][:, a] * senders
        if w.sum() <= 1e-15:
            w = game.prior * senders
        if w.sum() <= 1e-15:  # only seeds of prior 0 may send it
            w = senders.astype(float)
        out[h] = w / w.sum()
    return out


def posterior_safety(game: SequentialGame, profile: Profile, beliefs: np.ndarray | None = None,
                     tol: float = 1e-9, support: float = 1e-9) -> PosteriorSafetyReport:
    """Check that every supported answer has r_D ≥ 0 in expectation over the posterior.

    Args:
        game: a single-turn game (either observation).
        profile: the profile.
        beliefs: float ``(H, X)``; default :func:`default_beliefs`.
        tol: rewards above −tol count as ≥ 0.
        support: answers above this probability are in the support.
    """
    require_single_turn(game, "posterior_safety")
    nodes = defender_nodes(game)
    mu = default_beliefs(game, profile) if beliefs is None else np.asarray(beliefs, float)
    u_d = game.u_defender
    at_node = u_d[:, nodes.attack, :]  # (X, H, D)
    reward = np.einsum("hx,xhd->hd", mu, at_node)
    senders = np.stack([nodes.index[:, nodes.attack[h]] == h for h in range(nodes.count)], axis=0)
    worst = np.where(senders.T[:, :, None], at_node, np.inf).min(axis=0)  # (H, D)
    if game.observation is Observation.FULL:
        pol = np.array([profile.defender[0][int(lbl_x), a] for lbl_x, a in
                        (np.argwhere(nodes.index == h)[0] for h in range(nodes.count))])
    else:
        pol = profile.defender[0][nodes.attack]
    viol = tuple(
        (nodes.labels[h], game.responses[d], float(reward[h, d]), float(pol[h, d]))
        for h, d in zip(*np.nonzero((reward < -tol) & (pol > support)), strict=True)
    )
    return PosteriorSafetyReport(not viol, nodes.labels, mu, reward, reward.max(axis=1),
                                 worst.max(axis=1), viol)
