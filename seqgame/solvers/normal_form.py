"""The induced normal form of a single-turn game, and behaviour ↔ mixed conversions.

A pure attacker strategy picks one allowed attack per seed (``∏_x |allowed(x)|`` of
them); a pure defender strategy picks one response per defender information set (per
allowed (seed, attack) under ``full`` observation, per attack some seed may send under
``attack`` observation: ``D^H`` of them). Payoffs are expectations over the seed prior.
The size is combinatorial, so :func:`normal_form` refuses games above
:data:`MAX_NORMAL_FORM_CELLS` cells and names the polynomial alternatives.

By Kuhn's theorem every mixed strategy here is payoff-equivalent to the behaviour strategy
of its marginals (:meth:`NormalForm.behaviour`), so equilibria found in the normal form
are returned as ordinary :class:`~seqgame.model.profile.Profile` objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from seqgame.errors import GameTooLargeError
from seqgame.model.game import Observation, SequentialGame
from seqgame.model.infosets import DefenderNodes, defender_nodes, require_single_turn
from seqgame.model.profile import Profile

#: Largest number of cells (attacker strategies × defender strategies) we materialise.
MAX_NORMAL_FORM_CELLS = 4_000_000


def format_count(n: int) -> str:
    """``n`` with thousands separators, or as a power of ten when it is astronomically large."""
    return f"{n:,}" if n < 10**12 else f"~10^{len(str(n)) - 1}"


def behaviour_profile(
    game: SequentialGame, attacker: np.ndarray, node_policy: np.ndarray
) -> Profile:
    """Build a :class:`Profile` from attacker ``(X, A)`` and defender ``(H, D)`` behaviour.

    Defender rows at nodes no seed can reach (never played) are set to the best response
    to the prior, so every row is a distribution.
    """
    nodes = defender_nodes(game)
    u_d = game.u_defender
    n_x, n_a, n_d = game.shape
    if game.observation is Observation.FULL:
        dfd = np.zeros((n_x, n_a, n_d))
        dfd[np.arange(n_x)[:, None], np.arange(n_a)[None], u_d.argmax(axis=2)] = 1.0
        ok = nodes.index >= 0
        dfd[ok] = node_policy[nodes.index[ok]]
    else:
        dfd = np.zeros((n_a, n_d))
        dfd[np.arange(n_a), np.einsum("x,xad->ad", game.prior, u_d).argmax(axis=1)] = 1.0
        dfd[nodes.attack] = node_policy
    return Profile.from_arrays(game, attacker, dfd)


@dataclass(frozen=True, eq=False)
class NormalForm:
    """The induced normal form (attacker = row player, defender = column player).

    Attributes:
        game: the game.
        nodes: the defender's information sets.
        attacker_strategies: int ``(R, X)``, the attack each seed plays.
        defender_strategies: int ``(C, H)``, the response at each information set.
        attacker_payoff, defender_payoff: float ``(R, C)``, prior-expected payoffs.
    """

    game: SequentialGame
    nodes: DefenderNodes
    attacker_strategies: np.ndarray
    defender_strategies: np.ndarray
    attacker_payoff: np.ndarray
    defender_payoff: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """``(R, C)``."""
        return self.attacker_payoff.shape

    def behaviour(self, row_mix: np.ndarray, col_mix: np.ndarray) -> Profile:
        """Return the behaviour profile of mixed strategies ``row_mix`` (R,), ``col_mix`` (C,)."""
        n_x, n_a, n_d = self.game.shape
        att = np.zeros((n_x, n_a))
        for x in range(n_x):
            np.add.at(att[x], self.attacker_strategies[:, x], row_mix)
        pol = np.zeros((self.nodes.count, n_d))
        for h in range(self.nodes.count):
            np.add.at(pol[h], self.defender_strategies[:, h], col_mix)
        return behaviour_profile(self.game, att, pol)


def normal_form_size(game: SequentialGame) -> tuple[int, int]:
    """``(R, C)``: numbers of pure attacker and defender strategies (exact integers)."""
    rows = math.prod(int(n) for n in game.allowed.sum(axis=1))
    return rows, len(game.responses) ** defender_nodes(game).count


def normal_form(game: SequentialGame, max_cells: int = MAX_NORMAL_FORM_CELLS) -> NormalForm:
    """Build the induced normal form of a single-turn game.

    Raises:
        SolverError: more than one turn.
        GameTooLargeError: more than ``max_cells`` cells (the message gives the size).
    """
    require_single_turn(game, "normal form")
    rows, cols = normal_form_size(game)
    if rows * cols > max_cells:
        raise GameTooLargeError(
            f"the normal form of {game.name!r} has {format_count(rows)} attacker x "
            f"{format_count(cols)} defender pure strategies = {format_count(rows * cols)} "
            f"cells, over the limit {max_cells:,}: use concept "
            "'stackelberg' (MILP, no enumeration), 'spne' (full observation), or the "
            "zero-sum LP of 'nash' when the game is strategically zero-sum"
        )
    nodes = defender_nodes(game)
    n_x, _, n_d = game.shape
    choices = [np.flatnonzero(game.allowed[x]) for x in range(n_x)]
    att = np.array(np.meshgrid(*choices, indexing="ij")).reshape(n_x, -1).T
    dfd = np.array(np.meshgrid(*[np.arange(n_d)] * nodes.count, indexing="ij"))
    dfd = dfd.reshape(nodes.count, -1).T if nodes.count else np.zeros((1, 0), dtype=np.intp)
    u_a, u_d = game.payoffs
    pay_a = np.zeros((len(att), len(dfd)))
    pay_d = np.zeros_like(pay_a)
    for x in range(n_x):
        a = att[:, x]  # (R,)
        d = dfd[:, nodes.index[x, a]]  # (C, R)
        pay_a += game.prior[x] * u_a[x, a[None, :], d].T
        pay_d += game.prior[x] * u_d[x, a[None, :], d].T
    return NormalForm(game, nodes, att.astype(np.intp), dfd.astype(np.intp), pay_a, pay_d)
