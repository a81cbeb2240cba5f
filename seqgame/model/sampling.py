"""Categorical sampling: the one implementation every rollout, policy and learner uses.

* :func:`sample_rows` — one (or ``draws``) categorical draws per row of a probability table.
* :func:`sample_index` — draws from one probability vector (a prior, a policy row), never
  on a zero-probability entry (the environments' seed and opponent draws).
* :class:`GuideSampler` / :func:`guide_draw` — exact inverse-CDF draws through guide tables
  (Chen & Asau, 1974) for the batched rollout engine: a draw starts at its bucket's guide
  entry and steps right a step or two, instead of comparing u with the whole row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sample_rows(
    probs: np.ndarray, rng: np.random.Generator, draws: int | None = None
) -> np.ndarray:
    """Categorical draws from each row of ``probs`` ``(N, K)``.

    Returns:
        int ``(N,)`` (one draw per row), or ``(N, draws)`` when ``draws`` is given.
    """
    cdf = np.cumsum(probs, axis=1)
    if draws is None:
        u = rng.random(probs.shape[0]) * cdf[:, -1]
        out = (cdf <= u[:, None]).sum(axis=1)
    else:
        u = rng.random((probs.shape[0], draws)) * cdf[:, -1:]
        out = (cdf[:, None, :] <= u[:, :, None]).sum(axis=2)
    return np.minimum(out, probs.shape[1] - 1)


def sample_index(probs: np.ndarray, rng: np.random.Generator, n: int | None = None
                 ) -> int | np.ndarray:
    """Categorical draws from the vector ``probs`` ``(K,)`` by inverse CDF.

    A draw is ``#{k : cdf[k] <= u}`` with u uniform on [0, cdf[-1]) (one ``rng.random`` per
    draw); only rounding of u up to cdf[-1] can pass the last positive entry, so draws are
    clipped there and never land on a zero-probability entry.

    Returns:
        An ``int`` when ``n`` is None, else int ``(n,)``.
    """
    probs = np.asarray(probs, dtype=float)
    cdf = np.cumsum(probs)
    last = int(np.flatnonzero(probs > 0)[-1])
    if n is None:
        return min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), last)
    k = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    return np.minimum(k, last).astype(int)


@dataclass(frozen=True, eq=False)
class GuideSampler:
    """Inverse-CDF sampler for the rows of a probability table ``(R, K)``.

    A guide table (Chen & Asau 1974) maps each of M equal buckets of u ∈ [0, 1) to the
    number of CDF entries at or below the bucket's left edge; a draw starts there and steps
    right while the row's CDF is still <= u — a step or two for a few percent of draws.
    The result is exactly ``#{k : cdf[k] <= u}``, as a full search would give, then clipped
    to the row's last positive-probability column (so rounding never picks a zero).
    Small batches skip the guide (``guide is None``) and compare u with the whole row.

    Attributes:
        cdf: float ``(R * (K + 1),)`` normalised row CDFs, each row closed by +inf.
        guide: int ``(R * M,)`` start column per (row, bucket), or None.
        last: int ``(R,)`` last positive-probability column per row.
        k: K.
        m: M, a power of two, so ``u * M`` and the bucket edges are exact.
    """

    cdf: np.ndarray
    guide: np.ndarray | None
    last: np.ndarray
    k: int
    m: int


#: Upper bound on guide-table entries per sampler (memory), rows x buckets.
GUIDE_CELLS = 1 << 22
#: Batches with at most this many (draw, column) pairs compare u with whole rows.
DENSE_CELLS = 1 << 15


def guide_sampler(probs: np.ndarray, n_draws: int) -> GuideSampler:
    """Build the sampler of ``probs`` ``(R, K)`` for about ``n_draws`` draws.

    Draws are exact for any bucket count M, so M only trades set-up time (R·M) against
    stepping; it shrinks for small batches and huge tables.
    """
    n_rows, k = probs.shape
    probs = np.maximum(probs, 0.0)  # from_arrays tolerates -1e-6; a CDF must not decrease
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    closed = np.concatenate([cdf, np.full((n_rows, 1), np.inf)], axis=1).ravel()
    last = k - 1 - np.argmax(probs[:, ::-1] > 0, axis=1)
    if n_draws * k <= DENSE_CELLS:
        return GuideSampler(closed, None, last, k, 0)
    m = max(256, 1 << int(np.ceil(np.log2(4 * k))))
    while m > 1 and n_rows * m > min(GUIDE_CELLS, max(1024, 4 * n_draws)):
        m //= 2
    # guide[r, b] = #{k : cdf[r, k] <= b / m} = #{k : ceil(m * cdf[r, k]) <= b}, counted
    # with one bincount; m is a power of two, so m * cdf is exact.
    first = np.ceil(cdf * m).astype(np.intp) + (m + 1) * np.arange(n_rows)[:, None]
    counts = np.bincount(first.ravel(), minlength=n_rows * (m + 1)).reshape(n_rows, m + 1)
    guide = np.cumsum(counts, axis=1)[:, :m].astype(np.int32)
    return GuideSampler(closed, guide.ravel(), last, k, m)


def guide_draw(s: GuideSampler, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Categorical draws for ``rows`` (int ``(N,)``) from uniforms ``u`` ``(N,)`` in [0, 1)."""
    base = rows * (s.k + 1)
    if s.guide is None:
        cols = base[:, None] + np.arange(s.k)
        out = (s.cdf[cols] <= u[:, None]).sum(axis=1)
        return np.minimum(out, s.last[rows], out=out)
    bucket = (u * s.m).astype(np.intp)
    bucket += rows * s.m
    pos = s.guide[bucket] + base
    step = np.flatnonzero(s.cdf[pos] <= u)
    while step.size:
        pos[step] += 1
        step = step[s.cdf[pos[step]] <= u[step]]
    pos -= base
    return np.minimum(pos, s.last[rows], out=pos)
