"""Where the structs of a Yjs document live: an index from struct ids to board locations.

A location is the path of root type names and map keys from the document root down to an
item, cut after three steps: `("cards", card_id, "text")`, `("clusters", cluster_id)`,
`("meta", "phase")`. That is all the rules need to know about an update (which root, which
card, which field), and Yjs itself decides it from the update's own references:

* an item with parent information lives in that parent (a root name, or the type item with
  that id), under its map key if it has one;
* an item without it was inserted next to its origin (or right origin) and lives where that
  item lives — which is how most edits arrive (a text insert after a character, a map value
  replacing the previous value of its key).

Garbage-collected ranges have the empty location `GARBAGE`: Yjs turns anything placed
against them into garbage too, so they cannot touch the board.

The index is built from the stored state when a room loads and extended with every accepted
update; `place()` resolves a new update against it without changing it, so a rejected update
leaves no trace.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from server.crdt.errors import ProtocolError
from server.crdt.yupdate import DecodedUpdate, ItemRef, Struct

Location = tuple[str, ...]
GARBAGE: Location = ()
_DEPTH = 3


class UnknownReference(ProtocolError):
    """The update refers to content the document does not have (yet).

    Yjs would keep such structs pending and integrate them later, unchecked; the server
    refuses them instead (a client only ever refers to what it received from the server).
    """


@dataclass(frozen=True, slots=True)
class Placed:
    """One struct of an update and where it lives."""

    struct: Struct
    location: Location


class _Runs:
    """Clock ranges of one client, each with one location; ranges never overlap."""

    __slots__ = ("ends", "locations", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.locations: list[Location] = []

    def find(self, clock: int) -> Location | None:
        i = bisect_right(self.starts, clock) - 1
        if i >= 0 and clock < self.ends[i]:
            return self.locations[i]
        return None

    def add(self, start: int, end: int, location: Location) -> None:
        """Record [start, end); parts already known keep their location (Yjs ignores them)."""
        for piece_start, piece_end in self._unknown_parts(start, end):
            i = bisect_right(self.starts, piece_start)
            # Structs of one client mostly arrive in clock order: extend the previous run.
            if i > 0 and self.ends[i - 1] == piece_start and self.locations[i - 1] == location:
                self.ends[i - 1] = piece_end
                continue
            self.starts.insert(i, piece_start)
            self.ends.insert(i, piece_end)
            self.locations.insert(i, location)

    def _unknown_parts(self, start: int, end: int) -> list[tuple[int, int]]:
        parts = []
        cursor = start
        for known_start, known_end, _ in self.overlapping(start, end):
            if known_start > cursor:
                parts.append((cursor, known_start))
            cursor = max(cursor, known_end)
        if cursor < end:
            parts.append((cursor, end))
        return parts

    def overlapping(self, start: int, end: int) -> Iterator[tuple[int, int, Location]]:
        i = max(bisect_right(self.starts, start) - 1, 0)
        while i < len(self.starts) and self.starts[i] < end:
            if self.ends[i] > start:
                yield self.starts[i], self.ends[i], self.locations[i]
            i += 1


class _Intervals:
    """A union of clock ranges [start, end) of one client, kept merged and sorted."""

    __slots__ = ("ends", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        i = bisect_right(self.starts, start)
        if i > 0 and self.ends[i - 1] >= start:
            i -= 1
            start = self.starts[i]
        j = i
        while j < len(self.starts) and self.starts[j] <= end:
            end = max(end, self.ends[j])
            j += 1
        self.starts[i:j] = [start]
        self.ends[i:j] = [end]

    def missing(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        """The parts of [start, end) not in the union."""
        i = max(bisect_right(self.starts, start) - 1, 0)
        cursor = start
        while i < len(self.starts) and self.starts[i] < end and cursor < end:
            if self.ends[i] > cursor:
                if self.starts[i] > cursor:
                    yield cursor, self.starts[i]
                cursor = max(cursor, self.ends[i])
            i += 1
        if cursor < end:
            yield cursor, end


class LocationIndex:
    """Struct id -> location for every struct a document holds, and what is deleted.

    Yjs sends a document's *whole* delete set with every sync step 2, so deletions the
    document already has are told apart from new ones: only new ones are checked.
    """

    def __init__(self) -> None:
        self._clients: dict[int, _Runs] = {}
        self._deleted: dict[int, _Intervals] = {}

    def __len__(self) -> int:
        return sum(len(runs.starts) for runs in self._clients.values())

    def find(self, ref: ItemRef) -> Location | None:
        runs = self._clients.get(ref.client)
        return runs.find(ref.clock) if runs is not None else None

    def add(self, placed: Iterable[Placed], update: DecodedUpdate | None = None) -> None:
        """Learn accepted structs (and the update's deletions, if given)."""
        if update is not None:
            for deletion in update.deletes:
                intervals = self._deleted.get(deletion.client)
                if intervals is None:
                    intervals = self._deleted[deletion.client] = _Intervals()
                intervals.add(deletion.clock, deletion.clock + deletion.length)
        for entry in placed:
            struct = entry.struct
            runs = self._clients.get(struct.client)
            if runs is None:
                runs = self._clients[struct.client] = _Runs()
            runs.add(struct.clock, struct.clock + struct.length, entry.location)

    def place(self, update: DecodedUpdate) -> list[Placed]:
        """Every new item and garbage struct of `update` with its location.

        Raises UnknownReference if a struct refers to content neither the index nor the
        update itself has, and ProtocolError for references that go round in a circle.
        """
        return _Placement(self, update).run()

    def deleted_locations(self, update: DecodedUpdate, placed: list[Placed]) -> set[Location]:
        """Where the update's delete set removes content not deleted yet.

        Includes the update's own new structs; raises UnknownReference for deletions of
        content the document does not have.
        """
        own: dict[int, _Runs] = {}
        for entry in placed:
            struct = entry.struct
            own.setdefault(struct.client, _Runs()).add(
                struct.clock, struct.clock + struct.length, entry.location
            )
        found: set[Location] = set()
        for deletion in update.deletes:
            already = self._deleted.get(deletion.client)
            end = deletion.clock + deletion.length
            parts = (
                [(deletion.clock, end)] if already is None else already.missing(deletion.clock, end)
            )
            for part_start, part_end in parts:
                covered = 0
                for runs in (self._clients.get(deletion.client), own.get(deletion.client)):
                    if runs is None:
                        continue
                    for start, stop, location in runs.overlapping(part_start, part_end):
                        covered += min(stop, part_end) - max(start, part_start)
                        found.add(location)
                if covered < part_end - part_start:
                    raise UnknownReference(
                        f"deletes content the document does not have "
                        f"(client {deletion.client}, clock {part_start})"
                    )
        return found


class _Placement:
    """Resolves the structs of one update, each once, dependencies first (no recursion)."""

    def __init__(self, index: LocationIndex, update: DecodedUpdate) -> None:
        self.index = index
        self.structs = update.structs
        self.by_client: dict[int, tuple[list[int], list[int]]] = {}
        for position, struct in enumerate(self.structs):
            starts, positions = self.by_client.setdefault(struct.client, ([], []))
            starts.append(struct.clock)
            positions.append(position)
        self.locations: list[Location | None] = [None] * len(self.structs)

    def run(self) -> list[Placed]:
        placed: list[Placed] = []
        for position, struct in enumerate(self.structs):
            if struct.kind == "skip":
                continue
            if (
                self.index.find(ItemRef(struct.client, struct.clock + struct.length - 1))
                is not None
            ):
                continue  # the document has it already: Yjs ignores it, so do the rules
            if struct.kind == "gc":
                self.locations[position] = GARBAGE
            elif self.locations[position] is None:
                self._resolve(position)
            location = self.locations[position]
            assert location is not None
            placed.append(Placed(struct, location))
        return placed

    def _in_update(self, ref: ItemRef) -> int | None:
        entry = self.by_client.get(ref.client)
        if entry is None:
            return None
        starts, positions = entry
        i = bisect_right(starts, ref.clock) - 1
        if i < 0:
            return None
        position = positions[i]
        struct = self.structs[position]
        if struct.kind == "skip" or ref.clock >= struct.clock + struct.length:
            return None
        return position

    def _resolve(self, first: int) -> None:
        stack = [first]
        on_stack = {first}
        while stack:
            position = stack[-1]
            struct = self.structs[position]
            ref = _dependency(struct)
            base: Location | None  # None until the dependency's own location is known
            if ref is None:
                base = (struct.parent_root or "",)
            else:
                base = self.index.find(ref)
                if base is None:
                    dependency = self._in_update(ref)
                    if dependency is None:
                        raise UnknownReference(
                            f"refers to content the document does not have "
                            f"(client {ref.client}, clock {ref.clock})"
                        )
                    if self.structs[dependency].kind == "gc":
                        base = GARBAGE
                    else:
                        base = self.locations[dependency]
                        if base is None:
                            if dependency in on_stack:
                                raise ProtocolError("update refers to itself in a circle")
                            stack.append(dependency)
                            on_stack.add(dependency)
                            continue
            self.locations[position] = _location_of(struct, base)
            stack.pop()
            on_stack.discard(position)


def _dependency(struct: Struct) -> ItemRef | None:
    """The struct whose location decides this one's: parent item, else origin."""
    if struct.parent_root is not None:
        return None
    if struct.parent_item is not None:
        return struct.parent_item
    if struct.origin is not None:
        return struct.origin
    if struct.right_origin is not None:
        return struct.right_origin
    raise ProtocolError("an item without parent and without origin")


def _location_of(struct: Struct, base: Location) -> Location:
    if base == GARBAGE:
        return GARBAGE
    if struct.parent_root is None and struct.parent_item is None:
        return base  # inserted next to its origin: the same place
    location = (*base, struct.parent_sub) if struct.parent_sub is not None else base
    return location[:_DEPTH]
