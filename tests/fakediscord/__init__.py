"""A fake Discord (REST API v10 + Gateway v10) that the unmodified discord.py client logs in to and runs against.

Start with README.md in this folder. Modules: server (FakeDiscord, routing, recording, faults), gateway,
state (world model, permissions, mentions, default guild), rest (REST routes), interactions (injection and
callbacks), limits (form-body limits), fixtures (pytest fixtures).
"""

from .interactions import Attachment, Callback, InteractionHandle
from .server import ApiError, FakeDiscord, RecordedRequest, UploadedFile, Violation
from .state import Channel, ChannelType, Guild, Member, Perm, Role, ScheduledEvent, User

__all__ = [
    "ApiError",
    "Attachment",
    "Callback",
    "Channel",
    "ChannelType",
    "FakeDiscord",
    "Guild",
    "InteractionHandle",
    "Member",
    "Perm",
    "RecordedRequest",
    "Role",
    "ScheduledEvent",
    "UploadedFile",
    "User",
    "Violation",
]
