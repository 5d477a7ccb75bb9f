"""Every URL of the server and the endpoint that answers it (docs/protocol.md)."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Route, WebSocketRoute

from server.http import (
    access,
    commands,
    operations,
    rooms,
    sessions,
    templates,
    transfer,
    web,
)
from server.http.ws import room_socket


def routes(web_dist: Path | None) -> list[BaseRoute]:
    """The app's routes; `web_dist` is the built browser client (None: not built)."""
    room = "/api/rooms/{room_id}"
    snapshot = room + "/snapshots/{snapshot_id:int}"
    return [
        # operations
        Route("/healthz", operations.healthz),
        Route("/metrics", operations.metrics),
        Route("/api/stats", operations.lab_stats, methods=["GET"]),
        # rooms: create, join, summary, people, figures
        Route("/api/rooms", rooms.create_room, methods=["POST"]),
        Route("/api/rooms/import", transfer.import_room, methods=["POST"]),
        Route("/api/join", rooms.join_room, methods=["POST"]),
        Route(room, rooms.room_summary, methods=["GET"]),
        Route(room + "/export", transfer.export_room, methods=["GET"]),
        Route(room + "/commands", commands.run_command, methods=["POST"]),
        Route(room + "/participants", rooms.list_participants, methods=["GET"]),
        Route(room + "/invites", access.create_invite, methods=["POST"]),
        Route(room + "/insight", rooms.room_insight, methods=["GET"]),
        # access
        Route("/api/organizer", access.organizer_status, methods=["GET"]),
        Route(room + "/code", access.change_code, methods=["POST"]),
        # sessions: data protection, snapshots, templates
        Route(room, sessions.delete_room, methods=["DELETE"]),
        Route(room + "/data", sessions.room_data, methods=["GET"]),
        Route(room + "/snapshots", sessions.list_snapshots, methods=["GET"]),
        Route(room + "/snapshots", sessions.take_snapshot, methods=["POST"]),
        Route(snapshot, sessions.view_snapshot, methods=["GET"]),
        Route(snapshot, sessions.delete_snapshot, methods=["DELETE"]),
        Route(snapshot + "/restore", sessions.restore_snapshot, methods=["POST"]),
        Route(snapshot + "/duplicate", sessions.duplicate_snapshot, methods=["POST"]),
        Route(room + "/templates", templates.save_template, methods=["POST"]),
        Route(room + "/templates/{template_id}", templates.delete_template, methods=["DELETE"]),
        Route("/api/templates", templates.list_templates, methods=["GET"]),
        Route("/api/templates/{template_id}", templates.view_template, methods=["GET"]),
        # the WebSocket (server/http/ws.py) and the browser client
        WebSocketRoute("/ws/rooms/{room_id}", room_socket),
        WebSocketRoute("/ws/rooms/{room_id}/private", room_socket),
        *web.web_routes(web_dist),
    ]
