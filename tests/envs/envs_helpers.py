"""Shared fixtures-as-functions for the env tests."""

import numpy as np

from seqgame.model.game import SequentialGame
from seqgame.model.profile import Profile


def random_profile(game: SequentialGame, seed: int) -> Profile:
    """A fixed mixed profile with full support on allowed actions (Dirichlet draws)."""
    rng = np.random.default_rng(seed)
    n_x, n_a, n_d = game.shape
    t = game.turns
    att = rng.dirichlet(np.ones(n_a), size=(t, n_x)) * game.allowed[None]
    att /= att.sum(axis=-1, keepdims=True)
    node = (n_x, n_a) if not game.hidden_seed else (n_a,)
    dfd = rng.dirichlet(np.ones(n_d), size=(t, *node))
    return Profile.from_arrays(game, att, dfd)


def common_attack_parser(text: str, game: SequentialGame) -> int:
    """Lenient parser for random strings: an attack every seed may use, chosen by length."""
    common = np.flatnonzero(game.allowed.all(axis=0))
    return int(common[len(text) % common.size])


def lenient_response_parser(text: str, game: SequentialGame) -> int:
    """Lenient parser for random strings: a response chosen by length."""
    return len(text) % len(game.responses)


def draw(probs: np.ndarray, rng: np.random.Generator) -> int:
    return int(rng.choice(probs.shape[-1], p=probs))


def run_aec(env, act) -> tuple[dict, dict]:
    """Play one AEC episode (already reset): ``act(agent, obs)`` gives each move.

    Returns the rewards credited to each agent, summed, and each agent's final info.
    """
    totals = {"attacker": 0.0, "defender": 0.0}
    info = {}
    for agent in env.agent_iter():
        obs, reward, term, trunc, info_a = env.last()
        totals[agent] += reward
        if term or trunc:
            info[agent] = info_a
            env.step(None)
        else:
            env.step(act(agent, obs))
    return totals, info


def play_aec(env, profile: Profile, game: SequentialGame, rng: np.random.Generator) -> dict:
    """One AEC episode (already reset) under ``profile``; returns summed rewards and info.

    Reads only what each agent observes: the attacker its seed, the defender its own
    observation (seed only under full observation).
    """
    def act(agent, obs):
        t = int(obs["turn"])
        if agent == "attacker":
            return draw(profile.attacker[t, int(obs["seed"])], rng)
        a = int(obs["attack"])
        row = profile.defender[t, int(obs["seed"]), a] if "seed" in obs else \
            profile.defender[t, a]
        return draw(row, rng)

    totals, info = run_aec(env, act)
    return {"returns": totals, "info": info}
