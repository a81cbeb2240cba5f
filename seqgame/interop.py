"""Export single-turn games to OpenSpiel and pygambit, and run their solvers for cross-checks.

* :func:`to_openspiel` — the game as a registered OpenSpiel Python game: a chance node draws
  the seed, the attacker (player 0) picks an attack at information state ``p0|seed=x``,
  the defender (player 1) answers at ``p1|seed=x|attack=a`` (full observation) or
  ``p1|attack=a`` (hidden seed). :func:`openspiel_nash_conv` evaluates one of our profiles
  with OpenSpiel's ``nash_conv`` (``exploitability`` raises on general-sum games).
* :func:`to_openspiel_matrix` — the induced normal form as an OpenSpiel matrix game;
  :func:`openspiel_stackelberg_value` runs OpenSpiel's cvxpy-based ``stackelberg_lp``.
* :func:`to_pygambit` — the induced normal form as a pygambit game;
  :func:`pygambit_equilibria` runs ``enummixed_solve`` in a subprocess with a timeout
  (pygambit can hang) and maps its equilibria back to behaviour profiles;
  :func:`subgame_perfect` filters them (pygambit has no subgame-perfect solver).

pyspiel, cvxpy and pygambit are imported lazily: ``pip install 'seqgame[spiel]'``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from seqgame.errors import BackendUnavailableError, SolverError
from seqgame.game import Observation, Role, SequentialGame
from seqgame.metrics import attacker_best_response, defender_regret
from seqgame.normal_form import normal_form, require_single_turn
from seqgame.profile import Profile

_INSTALL = "pip install 'seqgame[spiel]'"
_REGISTERED: dict[str, Any] = {}


def _import(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"{name} is not installed ({exc}): {_INSTALL}"
        ) from None


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


def to_openspiel(game: SequentialGame) -> Any:
    """Register ``game`` as an OpenSpiel Python game (once per payoffs) and load it."""
    require_single_turn(game, "OpenSpiel export")
    pyspiel = _import("pyspiel")
    short = openspiel_name(game)
    if short in _REGISTERED:
        return pyspiel.load_game(short)
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
    outcomes = [(x, float(game.prior[x])) for x in range(n_x) if game.prior[x] > 0]

    class _Observer:
        def __init__(self) -> None:
            self.tensor = np.zeros(1, np.float32)
            self.dict = {"unused": self.tensor}

        def set_from(self, state: Any, player: int) -> None:
            del state, player

        def string_from(self, state: Any, player: int) -> str:
            return info_state(game, player, state.seed, state.attack)

    # pyspiel is imported lazily (typed Any); mypy cannot take a base class off a local module
    state_base: Any = pyspiel.State
    game_base: Any = pyspiel.Game

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
            if self.response is None:
                return 1
            return pyspiel.PlayerId.TERMINAL

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

    class _Game(game_base):
        def __init__(self, params: Any = None) -> None:
            super().__init__(game_type, game_info, params or {})

        def new_initial_state(self) -> _State:
            return _State(self)

        def make_py_observer(self, iig_obs_type: Any = None, params: Any = None) -> _Observer:
            del iig_obs_type, params
            return _Observer()

    pyspiel.register_game(game_type, _Game)
    _REGISTERED[short] = _Game
    return pyspiel.load_game(short)


def to_openspiel_policy(game: SequentialGame, os_game: Any, profile: Profile) -> Any:
    """Our profile as an OpenSpiel ``TabularPolicy`` of ``os_game``."""
    policy_mod = _import("open_spiel.python.policy")
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
    exploitability = _import("open_spiel.python.algorithms.exploitability")
    os_game = to_openspiel(game)
    return float(exploitability.nash_conv(os_game, to_openspiel_policy(game, os_game, profile)))


def to_openspiel_matrix(game: SequentialGame) -> Any:
    """Export the induced normal form as an OpenSpiel matrix game (attacker = row player)."""
    pyspiel = _import("pyspiel")
    form = normal_form(game)
    rows = [",".join(game.attacks[a] for a in s) for s in form.attacker_strategies]
    cols = [",".join(game.responses[d] for d in s) or "none" for s in form.defender_strategies]
    return pyspiel.create_matrix_game(
        openspiel_name(game) + "_nf", f"normal form of {game.name}", rows, cols,
        form.attacker_payoff.tolist(), form.defender_payoff.tolist())


def openspiel_stackelberg_value(game: SequentialGame, leader: Role | str) -> float:
    """Return the leader's value from OpenSpiel's ``stackelberg_lp`` on the normal form."""
    _import("cvxpy")  # an undeclared dependency of open_spiel's LP solvers
    stackelberg_lp = _import("open_spiel.python.algorithms.stackelberg_lp")
    role = Role.parse(leader)
    _, _, v0, v1 = stackelberg_lp.solve_stackelberg(
        to_openspiel_matrix(game), is_first_leader=role is Role.ATTACKER)
    return float(v0 if role is Role.ATTACKER else v1)


def to_pygambit(game: SequentialGame) -> Any:
    """Export the induced normal form as a pygambit strategic game."""
    gbt = _import("pygambit")
    form = normal_form(game)
    out = gbt.Game.from_arrays(form.attacker_payoff, form.defender_payoff,
                               title=f"normal form of {game.name}")
    for player, label in zip(out.players, ("attacker", "defender"), strict=True):
        player.label = label
    return out


_GAMBIT_SCRIPT = """
import json, sys
import numpy as np
import pygambit as gbt
data = np.load(sys.argv[1])
g = gbt.Game.from_arrays(data["a"], data["b"])
res = gbt.nash.enummixed_solve(g, rational=False)
out = [[[float(eq[s]) for s in p.strategies] for p in g.players] for eq in res.equilibria]
print(json.dumps(out))
"""


def pygambit_matrix_equilibria(row_payoff: np.ndarray, col_payoff: np.ndarray,
                               timeout: float = 60.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pygambit's ``enummixed_solve`` on a bimatrix game, in a subprocess with a timeout.

    Raises:
        BackendUnavailableError: pygambit missing.
        SolverError: the subprocess failed or ran past ``timeout`` seconds.
    """
    _import("pygambit")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "game.npz"
        np.savez(path, a=np.asarray(row_payoff, float), b=np.asarray(col_payoff, float))
        try:
            proc = subprocess.run([sys.executable, "-c", _GAMBIT_SCRIPT, str(path)],
                                  capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise SolverError(f"pygambit did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        raise SolverError(f"pygambit failed (exit {proc.returncode}): {proc.stderr[-500:]}")
    return [(np.array(r), np.array(c)) for r, c in json.loads(proc.stdout)]


def pygambit_equilibria(game: SequentialGame, timeout: float = 60.0) -> list[Profile]:
    """Pygambit's extreme equilibria of the induced normal form, as behaviour profiles."""
    form = normal_form(game)
    return [form.behaviour(r, c) for r, c in
            pygambit_matrix_equilibria(form.attacker_payoff, form.defender_payoff, timeout)]


def subgame_perfect(game: SequentialGame, profiles: list[Profile], tol: float = 1e-7
                    ) -> list[Profile]:
    """Keep the subgame-perfect profiles (duplicates removed).

    Subgame perfect: the defender best-responds at *every* node, off path included, and
    the attacker best-responds.
    """
    if game.observation is not Observation.FULL:
        raise SolverError("subgame perfection needs full observation; use concept 'pbe'")
    out, seen = [], set()
    for p in profiles:
        if np.nanmax(defender_regret(game, p)) > tol:
            continue
        br, _ = attacker_best_response(game, p)
        value = float(np.einsum("x,xa,xad,xad->", game.prior, p.attacker[0],
                                p.defender[0], game.u_attacker))
        if br - value > tol:
            continue
        key = (np.round(p.attacker, 7) + 0.0).tobytes() + (np.round(p.defender, 7) + 0.0).tobytes()
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
