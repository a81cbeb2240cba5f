"""Export games to OpenSpiel and run its solvers for cross-checks.

* :func:`to_openspiel` — the game as a registered OpenSpiel Python game: a chance node draws
  the seed, the attacker (player 0) picks an attack at information state ``p0|seed=x``,
  the defender (player 1) answers at ``p1|seed=x|attack=a`` (full observation) or
  ``p1|attack=a`` (hidden seed). With T > 1 turns a refusal continues the game and both
  states carry the history, ``...|h=a:d,a:d|...`` (the attacker sees the answers, the
  defender remembers the attacks and its answers); payoffs accrue as in
  :func:`seqgame.analysis.values.q_values` (``sum``/``final``, discount).
  :func:`openspiel_nash_conv` evaluates one of our Markov profiles with OpenSpiel's
  ``nash_conv`` (``exploitability`` raises on general-sum games);
  :func:`openspiel_sequence_form_value` runs OpenSpiel's ``sequence_form_lp``, and
  :func:`openspiel_nash_conv_of_behaviour` scores a history-dependent equilibrium from
  :mod:`seqgame.solvers.sequence_form`.
* :func:`to_openspiel_matrix` — the induced normal form as an OpenSpiel matrix game;
  :func:`openspiel_stackelberg_value` runs OpenSpiel's cvxpy-based ``stackelberg_lp``.

pyspiel and cvxpy are imported lazily: ``pip install 'seqgame[spiel]'``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from seqgame.errors import InvalidGameError
from seqgame.interop.optional import require
from seqgame.model.game import Observation, Role, SequentialGame
from seqgame.model.infosets import require_single_turn
from seqgame.model.profile import Profile
from seqgame.solvers.normal_form import normal_form
from seqgame.solvers.sequence_form import SequenceFormResult, history_key

_REGISTERED: dict[str, Any] = {}


def openspiel_name(game: SequentialGame) -> str:
    """Return the OpenSpiel short name of ``game`` (name + a hash of its payoffs)."""
    digest = hashlib.sha1()
    for arr in (*game.payoffs, game.prior, game.allowed.astype(float)):
        digest.update(np.ascontiguousarray(arr).tobytes())
    digest.update(game.observation.value.encode())
    digest.update(f"{game.turns}|{game.accrual}|{game.discount!r}|{sorted(game.refusals)}".encode())
    safe = "".join(c if c.isalnum() else "_" for c in game.name)
    return f"seqgame_{safe}_{digest.hexdigest()[:10]}"


def info_state(game: SequentialGame, player: int, seed: int, attack: int | None,
               history: tuple[tuple[int, int], ...] = ()) -> str:
    """Return the information-state string of ``player`` (0 attacker, 1 defender).

    ``history`` holds the earlier turns' (attack, response) pairs; it is left out of the
    string of a single-turn game.
    """
    hist = f"|h={history_key(game, history)}" if game.turns > 1 else ""
    if player == 0:
        return f"p0|seed={game.seed_ids[seed]}{hist}"
    assert attack is not None, "the defender's information state needs the attack"
    if game.observation is Observation.FULL:
        return f"p1|seed={game.seed_ids[seed]}{hist}|attack={game.attacks[attack]}"
    return f"p1{hist}|attack={game.attacks[attack]}"


def _game_type(pyspiel: Any, short: str, game: SequentialGame, zero_sum: bool = False
               ) -> tuple[Any, Any]:
    """OpenSpiel's ``GameType`` and ``GameInfo`` of the exported game."""
    n_x, n_a, n_d = game.shape
    u_a, u_d = game.payoffs
    game_type = pyspiel.GameType(
        short_name=short, long_name=f"seqgame {game.name}",
        dynamics=pyspiel.GameType.Dynamics.SEQUENTIAL,
        chance_mode=pyspiel.GameType.ChanceMode.EXPLICIT_STOCHASTIC,
        information=pyspiel.GameType.Information.IMPERFECT_INFORMATION,
        utility=(pyspiel.GameType.Utility.ZERO_SUM if zero_sum
                 else pyspiel.GameType.Utility.GENERAL_SUM),
        reward_model=pyspiel.GameType.RewardModel.TERMINAL,
        max_num_players=2, min_num_players=2,
        provides_information_state_string=True, provides_information_state_tensor=False,
        provides_observation_string=False, provides_observation_tensor=False,
        provides_factored_observation_string=False)
    game_info = pyspiel.GameInfo(
        num_distinct_actions=max(n_x, n_a, n_d), max_chance_outcomes=n_x, num_players=2,
        min_utility=float(min(u_a.min(), u_d.min(), 0.0)) * game.turns,
        max_utility=float(max(u_a.max(), u_d.max(), 0.0)) * game.turns,
        utility_sum=0.0 if zero_sum else None,
        max_game_length=1 + 2 * game.turns)
    return game_type, game_info


def _observer_class(game: SequentialGame) -> type:
    """The observer OpenSpiel's algorithms ask for information-state strings."""

    class _Observer:
        def __init__(self) -> None:
            self.tensor = np.zeros(1, np.float32)
            self.dict = {"unused": self.tensor}

        def set_from(self, state: Any, player: int) -> None:
            del state, player

        def string_from(self, state: Any, player: int) -> str:
            return info_state(game, player, state.seed, state.attack, tuple(state.history))

    return _Observer


def _answer_payoffs(game: SequentialGame, seed: int, attack: int, response: int, turn: int
                    ) -> tuple[bool, tuple[float, float]]:
    """Whether the answer ends the episode, and the payoffs it adds (accrual, discount)."""
    ends = not game.refusal_mask[response] or turn == game.turns - 1
    if not (ends or game.accrual == "sum"):
        return ends, (0.0, 0.0)
    cell, gamma = (seed, attack, response), game.discount**turn
    return ends, (gamma * float(game.u_attacker[cell]), gamma * float(game.u_defender[cell]))


def _state_class(pyspiel: Any, game: SequentialGame) -> type:
    """The OpenSpiel state: chance draws the seed, then attack and answer alternate per turn."""
    n_d = game.shape[2]
    outcomes = [(x, float(game.prior[x])) for x in range(len(game.seeds)) if game.prior[x] > 0]
    # pyspiel is imported lazily (typed Any); mypy cannot take a base class off a local module
    state_base: Any = pyspiel.State

    class _State(state_base):
        def __init__(self, os_game: Any) -> None:
            super().__init__(os_game)
            self.seed: int | None = None
            self.attack: int | None = None
            self.history: list[tuple[int, int]] = []
            self.done = False
            self.totals = [0.0, 0.0]

        def current_player(self) -> int:
            if self.seed is None:
                return pyspiel.PlayerId.CHANCE
            if self.done:
                return pyspiel.PlayerId.TERMINAL
            return 0 if self.attack is None else 1

        def _legal_actions(self, player: int) -> list[int]:
            if player == 0:
                return [int(a) for a in np.flatnonzero(game.allowed[self.seed])]
            return list(range(n_d))

        def chance_outcomes(self) -> list[tuple[int, float]]:
            return outcomes

        def _apply_action(self, action: int) -> None:
            if self.seed is None:
                self.seed = action
            elif self.attack is None:
                self.attack = action
            else:  # an answer: a refusal before the last turn continues the game
                self.done, gains = _answer_payoffs(game, self.seed, self.attack, action,
                                                   len(self.history))
                self.totals = [self.totals[0] + gains[0], self.totals[1] + gains[1]]
                self.history.append((self.attack, action))
                self.attack = None

        def _action_to_string(self, player: int, action: int) -> str:
            if player == pyspiel.PlayerId.CHANCE:
                return f"seed={game.seed_ids[action]}"
            return game.attacks[action] if player == 0 else game.responses[action]

        def is_terminal(self) -> bool:
            return self.done

        def returns(self) -> list[float]:
            return list(self.totals) if self.done else [0.0, 0.0]

        def __str__(self) -> str:
            return f"{self.seed}/{self.history}/{self.attack}"

    return _State


def to_openspiel(game: SequentialGame, zero_sum: bool = False) -> Any:
    """Register ``game`` as an OpenSpiel Python game (once per payoffs) and load it.

    Args:
        game: the game (any number of turns).
        zero_sum: declare the game zero-sum to OpenSpiel (its LP solvers demand it); needs
            U_A = −U_D exactly.

    Raises:
        InvalidGameError: ``zero_sum`` on a game whose payoffs do not sum to zero.
    """
    pyspiel = require("pyspiel")
    if zero_sum and not np.allclose(game.u_attacker, -game.u_defender, rtol=0.0, atol=1e-12):
        raise InvalidGameError(
            f"game {game.name!r} is not zero-sum (U_A + U_D != 0): export it with "
            "zero_sum=False, or build its zero-sum form first")
    short = openspiel_name(game) + ("_zs" if zero_sum else "")
    if short in _REGISTERED:
        return pyspiel.load_game(short)
    game_type, game_info = _game_type(pyspiel, short, game, zero_sum)
    state_cls, observer_cls = _state_class(pyspiel, game), _observer_class(game)
    game_base: Any = pyspiel.Game

    class _Game(game_base):
        def __init__(self, params: Any = None) -> None:
            super().__init__(game_type, game_info, params or {})

        def new_initial_state(self) -> Any:
            return state_cls(self)

        def make_py_observer(self, iig_obs_type: Any = None, params: Any = None) -> Any:
            del iig_obs_type, params
            return observer_cls()

    pyspiel.register_game(game_type, _Game)
    _REGISTERED[short] = _Game
    return pyspiel.load_game(short)


def to_openspiel_policy(game: SequentialGame, os_game: Any, profile: Profile) -> Any:
    """Our single-turn profile as an OpenSpiel ``TabularPolicy`` of ``os_game``."""
    require_single_turn(game, "to_openspiel_policy (use openspiel_nash_conv_of_behaviour)")
    policy_mod = require("open_spiel.python.policy")
    pol = policy_mod.TabularPolicy(os_game)
    dfd = profile.defender_full(game)[0]
    for x in range(len(game.seeds)):
        key = info_state(game, 0, x, None)
        if key in pol.state_lookup:
            row = pol.action_probability_array[pol.state_lookup[key]]
            row[:] = 0.0
            row[: len(game.attacks)] = profile.attacker[0, x]
        for a in np.flatnonzero(game.allowed[x]):
            key = info_state(game, 1, x, int(a))
            if key in pol.state_lookup:
                row = pol.action_probability_array[pol.state_lookup[key]]
                row[:] = 0.0
                row[: len(game.responses)] = dfd[x, a]
    return pol


def openspiel_nash_conv(game: SequentialGame, profile: Profile) -> float:
    """OpenSpiel's ``nash_conv`` of our ``profile`` (0 at a Nash equilibrium)."""
    exploitability = require("open_spiel.python.algorithms.exploitability")
    os_game = to_openspiel(game)
    return float(exploitability.nash_conv(os_game, to_openspiel_policy(game, os_game, profile)))


def to_openspiel_matrix(game: SequentialGame) -> Any:
    """Export the induced normal form as an OpenSpiel matrix game (attacker = row player)."""
    pyspiel = require("pyspiel")
    form = normal_form(game)
    rows = [",".join(game.attacks[a] for a in s) for s in form.attacker_strategies]
    cols = [",".join(game.responses[d] for d in s) or "none" for s in form.defender_strategies]
    return pyspiel.create_matrix_game(
        openspiel_name(game) + "_nf", f"normal form of {game.name}", rows, cols,
        form.attacker_payoff.tolist(), form.defender_payoff.tolist())


def openspiel_stackelberg_value(game: SequentialGame, leader: Role | str) -> float:
    """Return the leader's value from OpenSpiel's ``stackelberg_lp`` on the normal form."""
    require("cvxpy")  # an undeclared dependency of open_spiel's LP solvers
    stackelberg_lp = require("open_spiel.python.algorithms.stackelberg_lp")
    role = Role.parse(leader)
    _, _, v0, v1 = stackelberg_lp.solve_stackelberg(
        to_openspiel_matrix(game), is_first_leader=role is Role.ATTACKER)
    return float(v0 if role is Role.ATTACKER else v1)


def _behaviour_policy(game: SequentialGame, os_game: Any, result: SequenceFormResult) -> Any:
    """A history-dependent equilibrium as an OpenSpiel ``TabularPolicy`` of ``os_game``."""
    policy_mod = require("open_spiel.python.policy")
    pol = policy_mod.TabularPolicy(os_game)
    for key, idx in pol.state_lookup.items():
        parts = key.split("|")
        fields = dict(p.split("=", 1) for p in parts[1:])
        keys = [fields["seed"]] if "seed" in fields else []
        keys.append(fields.get("h", ""))
        if parts[0] == "p1":
            keys.append(fields["attack"])
        body = "|".join(keys)
        table = result.attacker_behaviour if parts[0] == "p0" else result.defender_behaviour
        row = pol.action_probability_array[idx]
        row[:] = 0.0
        probs = table[body]
        row[: len(probs)] = probs
    return pol


def openspiel_nash_conv_of_behaviour(game: SequentialGame, result: SequenceFormResult) -> float:
    """OpenSpiel's ``nash_conv`` of a sequence-form equilibrium (behaviour per history)."""
    exploitability = require("open_spiel.python.algorithms.exploitability")
    os_game = to_openspiel(game)
    return float(exploitability.nash_conv(os_game, _behaviour_policy(game, os_game, result)))


def openspiel_sequence_form_value(game: SequentialGame, solver: str = "CLARABEL") -> float:
    """The attacker's value from OpenSpiel's ``sequence_form_lp`` on the exported game.

    OpenSpiel's LP accepts zero-sum games only (U_A = −U_D exactly).
    """
    require("cvxpy")  # an undeclared dependency of open_spiel's LP solvers
    sequence_form_lp = require("open_spiel.python.algorithms.sequence_form_lp")
    lp_solver = require("open_spiel.python.algorithms.lp_solver")
    # ECOS, its default, is no longer shipped with cvxpy, and its ECOS-only settings are
    # the default keyword arguments of every solve: clear them for this call only
    settings = lp_solver.DEFAULT_SOLVER_KWARGS
    saved = dict(settings)
    settings.clear()
    try:
        v0, _, _, _ = sequence_form_lp.solve_zero_sum_game(to_openspiel(game, zero_sum=True),
                                                           solver=solver)
    finally:
        settings.update(saved)
    return float(v0)
