"""Figures of a co-evolution run. Each ``plot_*`` takes results and returns a Figure.

* :func:`plot_dynamics` — ASR, over-refusal, exploitability, subgame regret and the
  defender's distance to the SPNE set (nearest best response, reachable nodes) against the
  step, last iterate (solid) and time average (dashed), with the phases shaded by the role
  trained;
* :func:`plot_attacker_mix` — the attacker's strategy mix over time (stack plot);
* :func:`plot_cross_evaluation` — attacker snapshot × defender snapshot ASR heatmap
  (MAGIC Fig. 3), from :func:`seqgame.training.cross_eval.cross_evaluate`.

Plots take results only: they never train, never read files (``seqgame.runner.figures``
reads a run folder and calls them).

matplotlib is imported inside the functions (``import seqgame`` never needs it); figures
are built with ``matplotlib.figure.Figure`` (no pyplot, no GUI backend).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from seqgame.training.cross_eval import CrossEvaluation

ROLE_COLOURS = {"defender": "#4c72b0", "attacker": "#c44e52", "both": "#8c8c8c"}


def _figure(width: float, height: float, rows: int = 1) -> tuple[Any, Any]:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from seqgame.errors import BackendUnavailableError

        raise BackendUnavailableError(
            f"plots need matplotlib ({exc}): pip install 'seqgame[plot]'"
        ) from None
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return fig, axes


def phase_spans(records: Sequence[Mapping[str, Any]]) -> list[tuple[float, float, str]]:
    """``(start, end, role)`` step intervals of consecutive records with the same phase."""
    spans: list[tuple[float, float, str]] = []
    for rec in records:
        step, phase, role = rec["step"], rec["phase"], rec["role"]
        if spans and spans[-1][2] == f"{phase}:{role}":
            spans[-1] = (spans[-1][0], step, spans[-1][2])
        else:
            spans.append((step - 1, step, f"{phase}:{role}"))
    return [(a, b, key.split(":", 1)[1]) for a, b, key in spans]


def _series(records: Sequence[Mapping[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(r["step"], r[key]) for r in records if r.get(key) is not None]
    if not pts:
        return np.zeros(0), np.zeros(0)
    arr = np.array(pts, dtype=float)
    return arr[:, 0], arr[:, 1]


def plot_dynamics(records: Sequence[Mapping[str, Any]], title: str = "") -> Any:
    """Equilibrium dynamics of a run (see module docstring); returns the Figure."""
    panels = [
        ("Attack success / over-refusal", [("asr", "ASR"), ("over_refusal", "over-refusal")]),
        ("Distance from equilibrium", [("exploitability", "exploitability"),
                                       ("subgame_regret_max", "subgame regret (max)")]),
    ]
    if any("spne_distance_defender" in r for r in records):
        panels.append(("Defender distance to the SPNE set (nearest best response, "
                       "reachable nodes)",
                       [("spne_distance_defender", "max over reachable nodes"),
                        ("spne_distance_defender_mean", "mean over reachable nodes")]))
    fig, axes = _figure(9, 2.6 * len(panels), len(panels))
    spans = phase_spans(records)
    colours = ["#1b9e77", "#d95f02", "#7570b3"]
    for ax, (heading, keys) in zip(axes, panels, strict=True):
        for a, b, role in spans:
            ax.axvspan(a, b, color=ROLE_COLOURS.get(role, "#cccccc"), alpha=0.12, lw=0)
        for colour, (key, label) in zip(colours, keys, strict=False):
            x, y = _series(records, key)
            ax.plot(x, y, color=colour, lw=1.6, label=f"{label} (last iterate)")
            x, y = _series(records, f"avg/{key}")
            ax.plot(x, y, color=colour, lw=1.2, ls="--", label=f"{label} (average)")
        ax.set_title(heading, fontsize=10, loc="left")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right", ncol=2)
    from matplotlib.patches import Patch

    roles = sorted({r for _, _, r in spans})
    handles = [Patch(color=ROLE_COLOURS.get(r, "#cccccc"), alpha=0.3, label=f"training {r}")
               for r in roles]
    axes[0].legend(handles=handles + axes[0].get_legend_handles_labels()[0], fontsize=7,
                   loc="upper right", ncol=2)
    axes[-1].set_xlabel("step")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def plot_attacker_mix(records: Sequence[Mapping[str, Any]], attacks: Sequence[str],
                      title: str = "") -> Any:
    """Stack plot of the attacker's attack distribution (harmful seeds) over steps."""
    rows = [r for r in records if r.get("attacker_mix")]
    fig, axes = _figure(10, 4.2)
    ax = axes[0]
    if rows:
        steps = np.array([r["step"] for r in rows], dtype=float)
        mix = np.array([[r["attacker_mix"].get(a, 0.0) for a in attacks] for r in rows]).T
        from matplotlib import colormaps

        cmap = colormaps["tab20"]
        colours: list[tuple[float, float, float, float] | str] = [
            cmap(i % 20) for i in range(len(attacks))]
        if len(attacks) > 20:
            colours[20:] = ["#333333"] * (len(attacks) - 20)
        ax.stackplot(steps, mix, labels=list(attacks), colors=colours, alpha=0.9)
        ax.set_xlim(steps.min(), steps.max())
    ax.set_ylim(0, 1)
    ax.set_xlabel("step")
    ax.set_ylabel("P(attack | harmful seed)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), ncol=1)
    ax.set_title(title or "Attacker strategy mix", fontsize=10, loc="left")
    return fig


def plot_cross_evaluation(cross: CrossEvaluation, title: str = "") -> Any:
    """Heatmap of ASR for attacker snapshot (rows) × defender snapshot (columns)."""
    fig, axes = _figure(6.4, 5.4)
    ax = axes[0]
    im = ax.imshow(cross.asr, origin="lower", cmap="magma", vmin=0.0,
                   vmax=max(float(np.nanmax(cross.asr)), 1e-9), aspect="auto")
    n = len(cross.steps_attacker)
    ticks = np.unique(np.linspace(0, n - 1, min(n, 8)).round().astype(int))
    ax.set_xticks(ticks, [str(int(cross.steps_defender[i])) for i in ticks], fontsize=8)
    ax.set_yticks(ticks, [str(int(cross.steps_attacker[i])) for i in ticks], fontsize=8)
    ax.set_xlabel("defender snapshot (step)")
    ax.set_ylabel("attacker snapshot (step)")
    fig.colorbar(im, ax=ax, label="ASR (exact)")
    ax.set_title(title or "Cross-evaluation of snapshots (MAGIC Fig. 3)", fontsize=10,
                 loc="left")
    return fig
