"""Server-to-client WebSocket frames, built once as bytes for every recipient.

A fan-out hands the same ``str`` object to every local recipient's outbox (see
:meth:`chatcore.runtime.hub.Hub.deliver`). :class:`FrameCache` remembers the last text it framed,
by identity, so N recipients of one event cost one UTF-8 encoding and one frame header, then N
``transport.write`` calls of the same bytes object.
"""

from __future__ import annotations

import struct

__all__ = ("FrameCache", "text_frame")

_TEXT = 0x81  # FIN and opcode 1 (text); a server's frames are not masked (RFC 6455, 5.1)


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked text frame carrying ``payload`` (UTF-8)."""
    size = len(payload)
    if size < 126:
        return bytes((_TEXT, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", _TEXT, 126, size) + payload
    return struct.pack("!BBQ", _TEXT, 127, size) + payload


class FrameCache:
    """The frame of the last text framed, kept while the same ``str`` object comes again.

    One per event loop: every socket of an app shares it. Identity, not equality, is checked:
    an equal text in another object is framed again (correct, only slower), and the text held
    here cannot be freed and its id reused while it is held.
    """

    __slots__ = ("_frame", "_text")

    def __init__(self) -> None:
        self._text: str | None = None
        self._frame = b""

    def frame(self, text: str) -> bytes:
        """The text frame of ``text``."""
        if text is self._text:
            return self._frame
        frame = text_frame(text.encode())
        self._text, self._frame = text, frame
        return frame
