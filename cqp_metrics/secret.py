"""Statistical secret: primary suppression, then complementary suppression over linked tables.

Primary: a count of persons below ``min_count`` is hidden; a rate whose denominator is below
``min_denominator`` is hidden, and so is its numerator (the rate and its denominator would
give it back).

Complementary (as INSEE practises it): a hidden cell must not be recoverable from any cell
the product publishes for the same filters. Every table is protected together with its
margins, the same table without one of its cuts, which are published elsewhere (the page's
other charts, ``indicators`` without ``--by``, the total rows). The relations a reader can
use are:

- in a row, ``juries = full + partial + refused`` (:attr:`Count.parts`), ``certified = full``
  (:attr:`Count.equals`), ``vae_full = full`` where only VAE is selected and ``0`` where VAE
  is excluded (:attr:`Count.restricts`);
- a margin is the sum of the cells it totals; a cell alone in its group *is* its margin;
- a branch's cell is the sum of the cells of its CQPs, a CQPI counting in each of its
  branches: the same CQPI cell, shown in two branches, is one cell;
- a CQP's cell is the sum of its blocks' cells (a block belongs to its CQP);
- a rate, its numerator and its denominator: two of them give the third.

**Consistency across requests.** The cells of the table cut by a set of dimensions get their
fate from that table's own decision, taken once, coarse tables first: a table respects the
decisions of its margins and only hides more of its own cells. Two requests that show the
same cell (the same filters, the same cut) therefore show it or hide it alike, whichever
indicators they name: the decision is always taken over every count of a fact
(:func:`cqp_metrics.registry.family`).

**How cells are chosen.** Whenever a relation has exactly one unknown (hidden) value, the
smallest visible cell of that relation that the table may still hide is hidden too, until no
relation has a single unknown. A linear-algebra check then looks for hidden values that a
combination of relations would give back and hides more where it finds one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .cache import DECISIONS
from .config import SecretRule
from .dimensions import canonical
from .registry import COUNTS, REGISTRY

#: The value a dimension takes in a total row.
TOTAL = "Total"

#: The counts of a table cut by some dimensions (one column per dimension, then the counts).
CountsOf = Callable[[tuple[str, ...]], pd.DataFrame]


@dataclass(frozen=True)
class Knowledge:
    """What a reader knows besides the published numbers."""

    #: The branches each CQP counts in (within the user's scope and the branch filter).
    owners: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: The values the filters allow, per filtered dimension.
    allowed: Mapping[str, frozenset] = field(default_factory=dict)
    #: The CQPs each block code belongs to (a block is named by its CQP and its code).
    blocks: Mapping[str, frozenset[str]] = field(default_factory=dict)


def tables_deciding(dims: Iterable[str]) -> list[tuple[str, ...]]:
    """The tables (their cuts, canonical) whose counts a decision of the table cut by
    ``dims`` reads, itself last: its margins, coarse first, and the tables its branch and
    block relations go through (:meth:`Suppression._decide`). What a computation will ask
    for, known before it asks, so that it can be read in one go."""
    out: list[tuple[str, ...]] = []

    def visit(cut: tuple[str, ...]) -> None:
        if cut in out:
            return
        for dim in cut:
            rest = tuple(d for d in cut if d != dim)
            visit(rest)
            if dim == "branch_code" and "cqp_code" not in cut:
                visit(canonical((*rest, "cqp_code")))
        if "block_code" in cut and "cqp_code" not in cut:
            visit(canonical((*(d for d in cut if d != "block_code"), "cqp_code")))
        if cut not in out:
            out.append(cut)

    visit(canonical(dims))
    return out


def _key_value(value: object) -> object:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, float | np.integer):
        return int(value)
    return value


def row_keys(frame: pd.DataFrame, dims: Iterable[str]) -> list[tuple]:
    """Each row's values of ``dims``, as keys (missing values None, numbers as int), read
    column by column once rather than cell by cell."""
    columns = [[_key_value(v) for v in frame[d].tolist()] for d in dims]
    return list(zip(*columns, strict=True)) if columns else [()] * len(frame)


@dataclass
class DecidedTable:
    """A table of counts and its secret: ``hidden`` is True where a count is hidden. The
    decision reads the same as arrays (``keys``, ``counts``, ``fates``), made once."""

    dims: tuple[str, ...]
    values: pd.DataFrame
    hidden: pd.DataFrame
    #: Each row's values of ``dims``.
    keys: list[tuple]
    #: The counts and the fates of ``hidden``'s columns, row by row.
    counts: np.ndarray
    fates: np.ndarray
    #: Row index of each key.
    rows: dict[tuple, int] = field(init=False)

    def __post_init__(self) -> None:
        self.rows = {key: i for i, key in enumerate(self.keys)}

    def hidden_in(self, frame: pd.DataFrame, rule: SecretRule) -> pd.DataFrame:
        """The fate of this table's counts in another frame cut by the same dimensions
        (a request's table: the same cells, perhaps more rows, whose counts are then 0)."""
        columns = [c for c in self.hidden.columns if c in frame.columns]
        at = [self.hidden.columns.get_loc(c) for c in columns]
        rows = [self.rows.get(key) for key in row_keys(frame, self.dims)]
        found = np.array([r is not None for r in rows], dtype=bool)
        fates = np.zeros((len(frame), len(columns)), dtype=bool)
        if found.any():
            fates[found] = self.fates[np.array([r for r in rows if r is not None])][:, at]
        if rule.enabled and not found.all():
            small = frame[columns].to_numpy(dtype=float) < rule.min_count
            fates[~found] = small[~found]
        return pd.DataFrame(fates, index=frame.index, columns=columns)


class Suppression:
    """Decides the hidden cells of every table of one filter set, each table once."""

    def __init__(self, counts_of: CountsOf, rule: SecretRule, knowledge: Knowledge,
                 columns: list[str], shared: tuple | None = None) -> None:
        self.counts_of = counts_of
        #: The key under which its tables are shared with the process's other decisions
        #: of the same filters, fact, rule and data (:data:`cqp_metrics.cache.DECISIONS`).
        self.shared = shared
        self.rule = rule
        self.knowledge = knowledge
        #: The counts under secret, every count of the facts involved.
        self.columns = columns
        self._tables: dict[tuple[str, ...], DecidedTable] = {}
        #: Relations that could not be protected without changing a coarser table's
        #: published cells (see docs/secret.md); counted, for the benchmark.
        self.conflicts = 0

    def table(self, dims: Iterable[str]) -> DecidedTable:
        """The table cut by ``dims`` (any order), its counts and its hidden cells."""
        key = canonical(dims)
        if key not in self._tables:
            if self.shared is None:
                self._tables[key] = self._decide(key)
            else:
                self._tables[key] = DECISIONS.get((*self.shared, key),
                                                  lambda: self._decide(key))
        return self._tables[key]

    def _decide(self, dims: tuple[str, ...]) -> DecidedTable:
        values = self.counts_of(dims).reset_index(drop=True)
        keys = row_keys(values, dims)
        counts = values[self.columns].to_numpy(dtype=float)
        graph = _Graph(counts)
        if self.columns and self.rule.enabled:
            self._row_relations(graph, keys, counts, dims)
            for dim in dims:
                self._margin_relations(graph, keys, dims, dim)
            if "block_code" in dims and "cqp_code" not in dims:
                self._block_relations(graph, keys, dims)
            self._primary(graph, values)
        self.conflicts += graph.solve()
        fates = np.asarray(graph.local_hidden(), dtype=bool).reshape(counts.shape)
        hidden = pd.DataFrame(fates, index=values.index, columns=self.columns)
        return DecidedTable(dims, values, hidden, keys, counts, fates)

    # -- what a reader knows ---------------------------------------------------------------

    def _allowed(self, key: tuple, dims: tuple[str, ...], dim: str) -> frozenset | None:
        """The values ``dim`` may take in the row of this key (None: any)."""
        if dim in dims:
            return frozenset([key[dims.index(dim)]])
        return self.knowledge.allowed.get(dim)

    def _row_relations(self, graph: _Graph, keys: list[tuple], counts: np.ndarray,
                       dims: tuple[str, ...]) -> None:
        index = {name: j for j, name in enumerate(self.columns)}
        for name, j in index.items():
            count = COUNTS[name]
            for i, key in enumerate(keys):
                cell = graph.local(i, j)
                if count.equals in index:
                    graph.union(cell, graph.local(i, index[count.equals]))
                if count.restricts is not None:
                    base, dim, value = count.restricts
                    allowed = self._allowed(key, dims, dim)
                    if self._known_zero(key, dims, counts[i, j], name):
                        graph.known[cell] = True
                    elif allowed == {value} and base in index:
                        graph.union(cell, graph.local(i, index[base]))
                    elif base in index:
                        # base - restricted (juries outside VAE) is a count of persons too,
                        # published by difference: it is protected like a cell
                        # (not shown in this table: unknown, to protect when small)
                        rest = counts[i, index[base]] - counts[i, j]
                        other = graph.external(("rest", i, j), float(rest), True,
                                               needs=bool(0 < rest < self.rule.min_count))
                        graph.equation([(graph.local(i, index[base]), 1.0), (cell, -1.0),
                                        (other, -1.0)])
        for name, j in index.items():
            parts = COUNTS[name].parts
            if parts and all(p in index for p in parts):
                for i in range(len(keys)):
                    graph.equation([(graph.local(i, j), 1.0)]
                                   + [(graph.local(i, index[p]), -1.0) for p in parts])

    def _margin_relations(self, graph: _Graph, keys: list[tuple], dims: tuple[str, ...],
                          dim: str) -> None:
        """Relations between this table and its margin without ``dim`` (decided first)."""
        rest = tuple(d for d in dims if d != dim)
        margin = self.table(rest)
        position = [dims.index(d) for d in rest]
        groups: dict[tuple, list[int]] = {}
        for i, key in enumerate(keys):
            groups.setdefault(tuple(key[p] for p in position), []).append(i)
        if dim == "branch_code":
            self._branch_relations(graph, keys, dims, margin)
            return
        for group, members in groups.items():
            m = margin.rows.get(group)
            if m is None:
                continue
            for j in range(len(self.columns)):
                graph.equation([(self._external(graph, margin, m, j), 1.0)]
                               + [(graph.local(i, j), -1.0) for i in members])

    def _branch_relations(self, graph: _Graph, keys: list[tuple], dims: tuple[str, ...],
                          margin: DecidedTable) -> None:
        """A branch's cell is the sum of its CQPs' cells (a CQPI in each of its branches)."""
        if "cqp_code" in dims:
            rest = [p for p, d in enumerate(dims) if d != "branch_code"]
            for i, key in enumerate(keys):
                m = margin.rows.get(tuple(key[p] for p in rest))
                if m is not None:
                    for j in range(len(self.columns)):
                        graph.union(graph.local(i, j), self._external(graph, margin, m, j))
            return
        atoms = self.table([d for d in dims if d != "branch_code"] + ["cqp_code"])
        by_rest: dict[tuple, list[tuple[str, int]]] = {}
        cqp_at = atoms.dims.index("cqp_code")
        for key, a in atoms.rows.items():
            rest_key = tuple(v for p, v in enumerate(key) if p != cqp_at)
            by_rest.setdefault(rest_key, []).append((key[cqp_at], a))
        branch_at = dims.index("branch_code")
        for i, key in enumerate(keys):
            rest_key = tuple(v for p, v in enumerate(key) if p != branch_at)
            terms = [a for cqp, a in by_rest.get(rest_key, [])
                     if key[branch_at] in self.knowledge.owners.get(cqp, ())]
            for j in range(len(self.columns)):
                graph.equation([(graph.local(i, j), 1.0)]
                               + [(self._external(graph, atoms, a, j), -1.0) for a in terms])
        # The CQPs' cells add up to the margin: the reader has that table too.
        for rest_key, members in by_rest.items():
            m = margin.rows.get(rest_key)
            if m is None:
                continue
            for j in range(len(self.columns)):
                graph.equation([(self._external(graph, margin, m, j), 1.0)]
                               + [(self._external(graph, atoms, a, j), -1.0)
                                  for _, a in members])

    def _block_relations(self, graph: _Graph, keys: list[tuple],
                         dims: tuple[str, ...]) -> None:
        """A CQP's cell is the sum of its blocks' cells: the table cut by CQP instead of block
        is a margin of this one (decided first). Block codes shared by several CQPs tie them
        together: the relation is then over the CQPs and blocks so tied."""
        coarse = self.table([d for d in dims if d != "block_code"] + ["cqp_code"])
        tie = _Ties()
        for code, cqps in self.knowledge.blocks.items():
            for cqp in cqps:
                tie.union(("block", code), ("cqp", cqp))
        rest = [d for d in dims if d != "block_code"]
        groups: dict[tuple, dict[object, list[int]]] = {}
        for i, key in enumerate(keys):
            named = dict(zip(dims, key, strict=True))
            if named["block_code"] not in self.knowledge.blocks:
                return  # a block the reader cannot place: no relation to offer
            group = groups.setdefault(tuple(named[d] for d in rest), {})
            group.setdefault(tie.find(("block", named["block_code"])), []).append(i)
        for key, m in coarse.rows.items():
            named = dict(zip(coarse.dims, key, strict=True))
            rest_key = tuple(named[d] for d in rest)
            root = tie.find(("cqp", named["cqp_code"]))
            groups.setdefault(rest_key, {}).setdefault(root, []).append(-1 - m)
        for members in (m for group in groups.values() for m in group.values()):
            for j in range(len(self.columns)):
                graph.equation([(graph.local(i, j), -1.0) if i >= 0 else
                                (self._external(graph, coarse, -1 - i, j), 1.0)
                                for i in members])

    def _external(self, graph: _Graph, table: DecidedTable, row: int, j: int) -> int:
        count = float(table.counts[row, j])
        return graph.external((table.dims, row, j), count, bool(table.fates[row, j]),
                              self._known_zero(table.keys[row], table.dims, count,
                                               self.columns[j]))

    def _known_zero(self, key: tuple, dims: tuple[str, ...], count: float,
                    name: str) -> bool:
        """A count restricted to a value that the filters or the row (``key``) exclude: 0 by
        structure. So is a restricted count of 0: the table cut by that dimension has no
        such row."""
        restricts = COUNTS[name].restricts
        if restricts is None:
            return False
        allowed = self._allowed(key, dims, restricts[1])
        return (allowed is not None and restricts[2] not in allowed) or count == 0

    def _primary(self, graph: _Graph, values: pd.DataFrame) -> None:
        index = {name: j for j, name in enumerate(self.columns)}
        counts = values[self.columns].to_numpy(dtype=float)
        small = counts < self.rule.min_count
        for entry in REGISTRY:  # a rate hides its numerator on a small denominator
            if entry.unit == "count" or not all(t in index for t in entry.terms()):
                continue
            for count, hide in entry.primary(values, self.rule).items():
                small[:, index[count]] |= hide.to_numpy(dtype=bool)
        graph.hide_local(small)


class _Ties:
    """Union-find over hashable things (blocks and the CQPs they belong to)."""

    def __init__(self) -> None:
        self.parent: dict[object, object] = {}

    def find(self, x: object) -> object:
        while self.parent.setdefault(x, x) != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: object, b: object) -> None:
        self.parent[self.find(a)] = self.find(b)


class _Graph:
    """Cells (a table's own, and its margins' with a fixed fate), links and relations."""

    def __init__(self, counts: np.ndarray) -> None:
        self.rows, self.width = counts.shape
        size = self.rows * self.width
        self.value: list[float] = counts.reshape(-1).tolist()
        self.fixed: list[bool | None] = [None] * size
        self.known: list[bool] = [False] * size
        self.needs: list[bool] = [True] * size
        self.hidden: list[bool] = [False] * size
        self.parent: list[int] = list(range(size))
        self._externals: dict[tuple, int] = {}
        self.relations: list[list[tuple[int, float]]] = []

    def local(self, row: int, column: int) -> int:
        return row * self.width + column

    def external(self, key: tuple, value: float, hidden: bool, known: bool = False,
                 needs: bool = True) -> int:
        """A cell of another table, whose fate was decided there; ``needs``: a hidden value
        that must not be given back (False for a count shown nowhere that is not small)."""
        if key not in self._externals:
            node = len(self.value)
            self._externals[key] = node
            self.value.append(value)
            self.fixed.append(hidden)
            self.known.append(known)
            self.needs.append(needs)
            self.hidden.append(hidden)
            self.parent.append(node)
        return self._externals[key]

    def find(self, node: int) -> int:
        while self.parent[node] != node:
            self.parent[node] = self.parent[self.parent[node]]
            node = self.parent[node]
        return node

    def union(self, a: int, b: int) -> None:
        """Two cells that always hold the same number: one fate."""
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def equation(self, terms: list[tuple[int, float]]) -> None:
        """A linear relation ``sum(coefficient * cell) = 0`` a reader can use. Cells known to
        be 0 drop out; two cells left that must be equal are one cell; one cell left is 0."""
        unknown = [(node, c) for node, c in terms if not self.known[node]]
        if len(unknown) == 2 and unknown[0][1] == -unknown[1][1]:
            self.union(unknown[0][0], unknown[1][0])
        elif len(unknown) == 1:
            self.known[unknown[0][0]] = True
        elif unknown:
            self.relations.append(unknown)

    def hide_local(self, mask: np.ndarray) -> None:
        for node in np.flatnonzero(mask.reshape(-1)):
            self.hidden[int(node)] = True

    def local_hidden(self) -> np.ndarray:
        size = self.rows * self.width
        out = np.array([self.state[self.find(n)] for n in range(size)], dtype=bool)
        return out.reshape(self.rows, self.width)

    # -- the decision -----------------------------------------------------------------------

    def solve(self) -> int:
        """Hide cells until no hidden value can be given back; the number of conflicts."""
        roots = {}
        for node in range(len(self.value)):
            roots.setdefault(self.find(node), []).append(node)
        self.state: dict[int, bool] = {}
        self.frozen: dict[int, bool] = {}
        self.constant: dict[int, bool] = {}
        self.size: dict[int, float] = {}
        self.protect: dict[int, bool] = {}
        conflicts = 0
        for root, members in roots.items():
            fates = {self.fixed[m] for m in members} - {None}
            hidden = any(self.hidden[m] for m in members) or True in fates
            if False in fates and hidden:
                conflicts += 1  # a margin shows what this table must hide
            self.state[root] = hidden
            self.frozen[root] = bool(fates)
            self.constant[root] = any(self.known[m] for m in members)
            self.protect[root] = any(self.needs[m] for m in members)
            self.size[root] = min(self.value[m] for m in members)
        relations = []
        for terms in self.relations:
            merged: dict[int, float] = {}
            for node, coefficient in terms:
                root = self.find(node)
                if not self.constant[root]:
                    merged[root] = merged.get(root, 0.0) + coefficient
            merged = {r: c for r, c in merged.items() if c != 0.0}
            if len(merged) > 1 or (merged and any(self.state[r] for r in merged)):
                relations.append(merged)
        by_root: dict[int, list[int]] = {}
        for k, merged in enumerate(relations):
            for root in merged:
                by_root.setdefault(root, []).append(k)
        conflicts += self._public(relations, by_root)
        conflicts += self._spread(relations, by_root, range(len(relations)))
        for _ in range(50):
            determined = self._determined(relations)
            if not determined:
                break
            touched = []
            for root in determined:
                if not self.state[root] or not self.protect[root]:
                    continue
                options = {r for k in by_root.get(root, ()) for r in relations[k]
                           if self._hideable(r)}
                if not options:
                    conflicts += 1
                    continue
                chosen = min(options, key=lambda r: (self.size[r], r))
                self.state[chosen] = True
                touched += by_root[chosen]
            if not touched:
                break
            conflicts += self._spread(relations, by_root, touched)
        return conflicts

    def _public(self, relations: list[dict[int, float]], by_root: dict[int, list[int]]) -> int:
        """Cells the margins already give away (every other term of a relation is shown
        there): they are public, so hiding them would protect nothing; kept shown."""
        conflicts = 0
        queue = list(range(len(relations)))
        while queue:
            merged = relations[queue.pop()]
            open_ = [r for r in merged if not (self.frozen[r] and not self.state[r])]
            if len(open_) != 1:
                continue
            (root,) = open_
            if self.frozen[root]:
                continue
            self.frozen[root] = True
            if self.state[root]:
                conflicts += 1  # a margin shows what this table must hide
            queue += by_root[root]
        return conflicts

    def _hideable(self, root: int) -> bool:
        return not self.state[root] and not self.frozen[root] and not self.constant[root]

    def _spread(self, relations: list[dict[int, float]], by_root: dict[int, list[int]],
                todo: Iterable[int]) -> int:
        """Hide another cell of every relation left with a single hidden value."""
        conflicts = 0
        queue = list(todo)
        done_conflicts: set[int] = set()
        while queue:
            k = queue.pop()
            merged = relations[k]
            hidden = [r for r in merged if self.state[r]]
            if len(hidden) != 1 or not self.protect[hidden[0]]:
                continue
            options = [r for r in merged if self._hideable(r)]
            if not options:
                if k not in done_conflicts:
                    done_conflicts.add(k)
                    conflicts += 1
                continue
            chosen = min(options, key=lambda r: (self.size[r], r))
            self.state[chosen] = True
            queue += by_root[chosen]
        return conflicts

    def _determined(self, relations: list[dict[int, float]]) -> list[int]:
        """Hidden values that the relations give back (a null-space test per component)."""
        unknown_of = [[r for r in merged if self.state[r]] for merged in relations]
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for unknowns in unknown_of:
            for other in unknowns[1:]:
                a, b = find(unknowns[0]), find(other)
                if a != b:
                    parent[a] = b
        components: dict[int, list[int]] = {}
        for k, unknowns in enumerate(unknown_of):
            if unknowns:
                components.setdefault(find(unknowns[0]), []).append(k)
        determined = []
        for ks in components.values():
            columns = sorted({r for k in ks for r in unknown_of[k]})
            position = {r: p for p, r in enumerate(columns)}
            matrix = np.zeros((len(ks), len(columns)))
            for row, k in enumerate(ks):
                for r in unknown_of[k]:
                    matrix[row, position[r]] = relations[k][r]
            gram = matrix.T @ matrix
            eigenvalues, vectors = np.linalg.eigh(gram)
            tolerance = 1e-9 * max(1.0, float(eigenvalues.max(initial=0.0)))
            null = vectors[:, eigenvalues <= tolerance]
            free = np.abs(null).max(axis=1) > 1e-6 if null.size else np.zeros(len(columns),
                                                                                bool)
            determined += [r for r, p in position.items() if not free[p]]
        return determined
