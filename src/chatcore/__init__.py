"""chatcore: real-time chat for Python web projects.

Rooms, user-level presence, private messages, history with resume, typing notices, limits and
permissions, behind wire protocol v1. Framework-agnostic (anyio); adapters live in
``chatcore_starlette`` and ``chatcore_django``.
"""

from .backends.broker import Broker as Broker
from .backends.directory import Directory as Directory
from .backends.directory import MemoryDirectory as MemoryDirectory
from .backends.memory_broker import MemoryBroker as MemoryBroker
from .backends.memory_broker import MemoryBus as MemoryBus
from .backends.memory_store import MemoryStore as MemoryStore
from .backends.presence import MembersPage as MembersPage
from .backends.store import Appended as Appended
from .backends.store import HistoryPage as HistoryPage
from .backends.store import Store as Store
from .clock import Clock as Clock
from .clock import FakeClock as FakeClock
from .clock import SystemClock as SystemClock
from .policy import Policy as Policy
from .runtime.connection import Closed as Closed
from .runtime.connection import Connection as Connection
from .runtime.server import ChatServer as ChatServer
from .wire.errors import BadFrame as BadFrame
from .wire.errors import Banned as Banned
from .wire.errors import ChatError as ChatError
from .wire.errors import ClientError as ClientError
from .wire.errors import CloseCode as CloseCode
from .wire.errors import ErrorCode as ErrorCode
from .wire.errors import Forbidden as Forbidden
from .wire.errors import InternalError as InternalError
from .wire.errors import InvalidField as InvalidField
from .wire.errors import MessageRejected as MessageRejected
from .wire.errors import Muted as Muted
from .wire.errors import NoSuchMessage as NoSuchMessage
from .wire.errors import NoSuchRoom as NoSuchRoom
from .wire.errors import NoSuchUser as NoSuchUser
from .wire.errors import NotMember as NotMember
from .wire.errors import QuotaExceeded as QuotaExceeded
from .wire.errors import RateLimited as RateLimited
from .wire.errors import RecipientUnavailable as RecipientUnavailable
from .wire.errors import ReplyError as ReplyError
from .wire.errors import RoomExists as RoomExists
from .wire.errors import TooLarge as TooLarge
from .wire.errors import Unavailable as Unavailable
from .wire.errors import UnknownType as UnknownType
from .wire.errors import UsageError as UsageError
from .wire.events import PrivateEvent as PrivateEvent
from .wire.limits import Limits as Limits
from .wire.moderation import AuditEntry as AuditEntry
from .wire.moderation import AuditPage as AuditPage
from .wire.moderation import Sanction as Sanction
from .wire.values import Message as Message
from .wire.values import Room as Room
from .wire.values import RoomKind as RoomKind
from .wire.values import User as User

__version__ = "0.1.0"

__all__ = (
    "Appended",
    "AuditEntry",
    "AuditPage",
    "BadFrame",
    "Banned",
    "Broker",
    "ChatError",
    "ChatServer",
    "ClientError",
    "Clock",
    "CloseCode",
    "Closed",
    "Connection",
    "Directory",
    "ErrorCode",
    "FakeClock",
    "Forbidden",
    "HistoryPage",
    "InternalError",
    "InvalidField",
    "Limits",
    "MembersPage",
    "MemoryBroker",
    "MemoryBus",
    "MemoryDirectory",
    "MemoryStore",
    "Message",
    "MessageRejected",
    "Muted",
    "NoSuchMessage",
    "NoSuchRoom",
    "NoSuchUser",
    "NotMember",
    "Policy",
    "PrivateEvent",
    "QuotaExceeded",
    "RateLimited",
    "RecipientUnavailable",
    "ReplyError",
    "Room",
    "RoomExists",
    "RoomKind",
    "Sanction",
    "Store",
    "SystemClock",
    "TooLarge",
    "Unavailable",
    "UnknownType",
    "UsageError",
    "User",
)
