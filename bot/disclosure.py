"""Small-number suppression for published counts, with secondary suppression.

A table of counts is a set of cells keyed by one value per dimension, where the value
`TOTAL` stands for "all of them": a total cell is the sum of the cells in its line (the
cells that differ from it in one dimension only). A cell from 1 to `minimum - 1` is hidden
(primary suppression). Then no line may hide exactly one of its cells, total included,
because the total minus the others would give it away: while one does, the smallest
visible non-zero cell of that line is hidden too (secondary suppression), or its total
when no such cell is left. A zero is published, never hidden.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

TOTAL = "All"
Key = tuple[str, ...]


def primary(count: int, minimum: int) -> bool:
    """Whether a count is too small to publish (1 to minimum - 1; 0 is published)."""
    return 0 < count < minimum


def suppressed_cells(
    counts: Mapping[Key, int], minimum: int, also: frozenset[Key] = frozenset()
) -> set[Key]:
    """The cells to hide: small ones, `also`, and those that totals would give away."""
    hidden = {key for key, count in counts.items() if primary(count, minimum)} | set(also)
    dimensions = len(next(iter(counts), ()))
    lines: dict[tuple[int, Key], list[Key]] = defaultdict(list)
    for key in counts:
        for d in range(dimensions):
            lines[(d, (*key[:d], "", *key[d + 1 :]))].append(key)
    changed = True
    while changed:
        changed = False
        for (d, _), members in lines.items():
            if sum(key in hidden for key in members) != 1:
                continue
            # A zero is published: hiding one would protect nothing (and say it is not 0).
            visible = [k for k in members if k not in hidden and k[d] != TOTAL and counts[k]]
            visible = visible or [k for k in members if k not in hidden and k[d] == TOTAL]
            visible = visible or [k for k in members if k not in hidden]
            if visible:
                hidden.add(min(visible, key=lambda k: (counts[k], k)))
                changed = True
    return hidden
