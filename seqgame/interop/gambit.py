"""Cross-checks with pygambit: the induced normal form, its equilibria, subgame perfection.

* :func:`to_pygambit` — the induced normal form as a pygambit game;
* :func:`pygambit_equilibria` runs ``enummixed_solve`` in a subprocess with a timeout
  (pygambit can hang) and maps its equilibria back to behaviour profiles;
* :func:`subgame_perfect` filters them (pygambit has no subgame-perfect solver).

pygambit is an optional extra of its own (``pip install 'seqgame[gambit]'``): it has no
wheel for every platform and compiles from source for about 20 minutes where it has none.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from seqgame.analysis.metrics import attacker_best_response, defender_regret
from seqgame.analysis.values import stage_values
from seqgame.errors import SolverError
from seqgame.interop.optional import require
from seqgame.model.game import Observation, SequentialGame
from seqgame.model.profile import Profile, unique_profiles
from seqgame.solvers.normal_form import normal_form

_EXTRA = "gambit"


def to_pygambit(game: SequentialGame) -> Any:
    """Export the induced normal form as a pygambit strategic game."""
    gbt = require("pygambit", _EXTRA)
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
    require("pygambit", _EXTRA)
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
    out = []
    for p in profiles:
        if np.nanmax(defender_regret(game, p)) > tol:
            continue
        br, _ = attacker_best_response(game, p)
        value = stage_values(game, p)[0]
        if br - value > tol:
            continue
        out.append(p)
    return unique_profiles(out, decimals=7)
