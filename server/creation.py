"""New rooms: a fresh room id and join code, and a room holding an imported board."""

from __future__ import annotations

from datetime import UTC, datetime

from server.crdt.board import new_board
from server.errors import Unavailable
from server.ids import new_code, new_participant_id, new_room_id
from server.reports.importer import BoardExport, import_board
from server.storage.store import CodeTaken, RoomRecord, Store


class NoCodeAvailable(Unavailable):
    """Every join code drawn was taken (a clash among ~10^9 codes, many times in a row)."""

    def __init__(self) -> None:
        super().__init__("no_code_available", "could not allocate a join code, try again")


async def create_room_record(store: Store, title: str, attempts: int = 20) -> RoomRecord:
    """A new room with a fresh id and join code; raises NoCodeAvailable."""
    for _ in range(attempts):
        candidate = RoomRecord(
            id=new_room_id(), code=new_code(), title=title, created=datetime.now(UTC)
        )
        try:
            await store.create_room(candidate)
        except CodeTaken:
            continue  # a clash among ~10^9 codes: draw again
        return candidate
    raise NoCodeAvailable()


async def import_room(
    store: Store, board: BoardExport, title: str, facilitator_name: str
) -> tuple[RoomRecord, str]:
    """A new room holding an imported board, and its facilitator (the importer).

    The board is stored as the room's first update, before anyone can know its code; the
    room's settings are completed (title, defaults, names) when it is first loaded.
    Returns the room and the facilitator's participant id.
    """
    doc = new_board()
    import_board(doc, board)
    record = await create_room_record(store, title)
    participant = new_participant_id()
    await store.add_participant(record.id, participant, facilitator_name, "facilitator")
    await store.append_updates([(record.id, doc.get_update())])
    return record, participant
