"""Export single-turn games to OpenSpiel and run its solvers for cross-checks.

* :func:`to_openspiel` — the game as a registered OpenSpiel Python game: a chance node draws
  the seed, the attacker (player 0) picks an attack at information state ``p0|seed=x``,
  the defender (player 1) answers at ``p1|seed=x|attack=a`` (full observation) or
  ``p1|attack=a`` (hidden seed). :func:`openspiel_nash_conv` evaluates one of our profiles
  with OpenSpiel's ``nash_conv`` (``exploitability`` raises on general-sum games).
* :func:`to_openspiel_matrix` — the induced normal form as an OpenSpiel matrix game;
  :func:`openspiel_stackelberg_value` runs OpenSpiel's cvxpy-based ``stackelberg_lp``.

pyspiel and cvxpy are imported lazily: ``pip install 'seqgame[spiel]'``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from seqgame.interop.optional import require
from seqgame.model.game import Observation, Role, SequentialGame
from seqgame.model.infosets import require_single_turn
from seqgame.model.profile import Profile
from seqgame.solvers.normal_form import normal_form

_REGISTERED: dict[str, Any] = {}


def openspiel_name(game: SequentialGame) -> str:
    """Return the OpenSpiel short name of ``game`` (name + a hash of its payoffs)."""
    digest = hashlib.sha1()
    for arr in (*game.payoffs, game.prior, game.allowed.astype(float)):
        digest.update(np.ascontiguousarray(arr).tobytes())
    digest.update(game.observation.value.encode())
    safe = "".join(c if c.isalnum() else "_" for c in game.name)
    return f"seqgame_{safe}_{digest.hexdigest()[:10]}"


def info_state(game: SequentialGame, player: int, seed: int, attack: int | None) -> str:
    """Return the information-state string of ``player`` (0 attacker, 1 defender)."""
    if player == 0:
        return f"p0|seed={game.seed_ids[seed]}"
    assert attack is not None, "the defender's information state needs the attack"
    if game.observation is Observation.FULL:
        return f"p1|seed={game.seed_ids[seed]}|attack={game.attacks[attack]}"
    return f"p1|attack={game.attacks[attack]}"


def _game_type(pyspiel: Any, short: str, game: SequentialGame) -> tuple[Any, Any]:
    """OpenSpiel's ``GameType`` and ``GameInfo`` of the exported game."""
    n_x, n_a, n_d = game.shape
    u_a, u_d = game.payoffs
    game_type = pyspiel.GameType(
        short_name=short, long_name=f"seqgame {game.name}",
        dynamics=pyspiel.GameType.Dynamics.SEQUENTIAL,
        chance_mode=pyspiel.GameType.ChanceMode.EXPLICIT_STOCHASTIC,
        information=pyspiel.GameType.Information.IMPERFECT_INFORMATION,
        utility=pyspiel.GameType.Utility.GENERAL_SUM,
        reward_model=pyspiel.GameType.RewardModel.TERMINAL,
        max_num_players=2, min_num_players=2,
        provides_information_state_string=True, provides_information_state_tensor=False,
        provides_observation_string=False, provides_observation_tensor=False,
        provides_factored_observation_string=False)
    game_info = pyspiel.GameInfo(
        num_distinct_actions=max(n_x, n_a, n_d), max_chance_outcomes=n_x, num_players=2,
        min_utility=float(min(u_a.min(), u_d.min())),
        max_utility=float(max(u_a.max(), u_d.max())), utility_sum=None, max_game_length=3)
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
            return info_state(game, player, state.seed, state.attack)

    return _Observer


def _state_class(pyspiel: Any, game: SequentialGame) -> type:
    """The OpenSpiel state: chance draws the seed, the attacker attacks, the defender answers."""
    n_d = game.shape[2]
    u_a, u_d = game.payoffs
    outcomes = [(x, float(game.prior[x])) for x in range(len(game.seeds)) if game.prior[x] > 0]
    # pyspiel is imported lazily (typed Any); mypy cannot take a base class off a local module
    state_base: Any = pyspiel.State

    class _State(state_base):
        def __init__(self, os_game: Any) -> None:
            super().__init__(os_game)
            self.seed: int | None = None
            self.attack: int | None = None
            self.response: int | None = None

        def current_player(self) -> int:
            if self.seed is None:
                return pyspiel.PlayerId.CHANCE
            if self.attack is None:
                return 0
            return 1 if self.response is None else pyspiel.PlayerId.TERMINAL

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
            else:
                self.response = action

        def _action_to_string(self, player: int, action: int) -> str:
            if player == pyspiel.PlayerId.CHANCE:
                return f"seed={game.seed_ids[action]}"
            return game.attacks[action] if player == 0 else game.responses[action]

        def is_terminal(self) -> bool:
            return self.response is not None

        def returns(self) -> list[float]:
            if self.response is None:
                return [0.0, 0.0]
            cell = (self.seed, self.attack, self.response)
            return [float(u_a[cell]), float(u_d[cell])]

        def __str__(self) -> str:
            return f"{self.seed}/{self.attack}/{self.response}"

    return _State


def to_openspiel(game: SequentialGame) -> Any:
    """Register ``game`` as an OpenSpiel Python game (once per payoffs) and load it."""
    require_single_turn(game, "OpenSpiel export")
    pyspiel = require("pyspiel")
    short = openspiel_name(game)
    if short in _REGISTERED:
        return pyspiel.load_game(short)
    game_type, game_info = _game_type(pyspiel, short, game)
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
    """Our profile as an OpenSpiel ``TabularPolicy`` of ``os_game``."""
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
