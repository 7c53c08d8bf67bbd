"""chatcore: real-time chat for Python web projects.

Rooms, user-level presence, private messages, history with resume, typing notices, limits and
permissions, behind wire protocol v1. Framework-agnostic (anyio); adapters live in
``chatcore_starlette`` and ``chatcore_django``.
"""

from .broker import Broker as Broker
from .clock import Clock as Clock
from .clock import FakeClock as FakeClock
from .clock import SystemClock as SystemClock
from .connection import Closed as Closed
from .connection import Connection as Connection
from .directory import Directory as Directory
from .directory import MemoryDirectory as MemoryDirectory
from .errors import BadFrame as BadFrame
from .errors import ChatError as ChatError
from .errors import ClientError as ClientError
from .errors import CloseCode as CloseCode
from .errors import ErrorCode as ErrorCode
from .errors import Forbidden as Forbidden
from .errors import InternalError as InternalError
from .errors import InvalidField as InvalidField
from .errors import NoSuchRoom as NoSuchRoom
from .errors import NoSuchUser as NoSuchUser
from .errors import NotMember as NotMember
from .errors import QuotaExceeded as QuotaExceeded
from .errors import RateLimited as RateLimited
from .errors import RecipientUnavailable as RecipientUnavailable
from .errors import ReplyError as ReplyError
from .errors import RoomExists as RoomExists
from .errors import TooLarge as TooLarge
from .errors import Unavailable as Unavailable
from .errors import UnknownType as UnknownType
from .errors import UsageError as UsageError
from .events import PrivateEvent as PrivateEvent
from .limits import Limits as Limits
from .memory_broker import MemoryBroker as MemoryBroker
from .memory_broker import MemoryBus as MemoryBus
from .memory_store import MemoryStore as MemoryStore
from .policy import Policy as Policy
from .server import ChatServer as ChatServer
from .store import Appended as Appended
from .store import HistoryPage as HistoryPage
from .store import Store as Store
from .values import Message as Message
from .values import Room as Room
from .values import RoomKind as RoomKind
from .values import User as User

__version__ = "0.1.0"

__all__ = (
    "Appended",
    "BadFrame",
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
    "MemoryBroker",
    "MemoryBus",
    "MemoryDirectory",
    "MemoryStore",
    "Message",
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
    "Store",
    "SystemClock",
    "TooLarge",
    "Unavailable",
    "UnknownType",
    "UsageError",
    "User",
)
