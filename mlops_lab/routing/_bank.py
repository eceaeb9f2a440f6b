"""A bank of joint posterior draws: which arm wins each, and how often each arm wins."""

from __future__ import annotations

import numpy as np


class DrawBank:
    """``size`` joint draws from the arms' Beta posteriors, redrawn a slice at a time.

    Column j holds one draw per arm; ``winners[j]`` is the index of the arm whose draw is
    highest and ``wins[i]`` counts the columns arm i wins, so an arm served as the winner
    of a column picked at random is served with probability ``wins[i] / size`` exactly.
    Slices are redrawn in turn from a cursor that goes round the bank, so ``size`` columns
    redrawn in any slices from the same posteriors are the same draws as one whole redraw
    from the same random state, starting at the cursor.

    Args:
        arms: The live arms, in the order of the posteriors given to :meth:`redraw`.
        size: Number of joint draws.
    """

    def __init__(self, arms: tuple[str, ...], size: int) -> None:
        self.arms = arms
        self.size = size
        self.winners = np.zeros(size, dtype=np.intp)
        self.wins = [size] + [0] * (len(arms) - 1)  # a list: read by every decision
        self.drawn_at = np.full(size, -1)  # the update count at which each column was drawn
        self.cursor = 0

    def redraw(
        self, rng: np.random.Generator, a: np.ndarray, b: np.ndarray, columns: int, stamp: int
    ) -> None:
        """Redraw the next ``columns`` columns (at most the whole bank) from Beta(a, b)."""
        columns = min(columns, self.size)
        while columns > 0:  # in contiguous pieces: slices of arrays are views, and cheap
            end = min(self.cursor + columns, self.size)
            self._redraw_piece(rng, a, b, slice(self.cursor, end), stamp)
            columns -= end - self.cursor
            self.cursor = end % self.size

    def _redraw_piece(
        self, rng: np.random.Generator, a: np.ndarray, b: np.ndarray, where: slice, stamp: int
    ) -> None:
        arms = len(self.arms)
        winners = rng.beta(a, b, size=(where.stop - where.start, arms)).argmax(axis=1)
        change = np.bincount(winners, minlength=arms) - np.bincount(
            self.winners[where], minlength=arms
        )
        self.wins = [w + c for w, c in zip(self.wins, change.tolist(), strict=True)]
        self.winners[where] = winners
        self.drawn_at[where] = stamp

    def shares(self) -> dict[str, float]:
        """Each arm's share of the wins: the probability it is served now."""
        return {arm: wins / self.size for arm, wins in zip(self.arms, self.wins, strict=True)}
