"""The text form of an envelope on Redis pub/sub: :mod:`chatcore.backends._codec`, which the
PostgreSQL broker shares."""

from ..backends._codec import decode_envelope as decode_envelope
from ..backends._codec import encode_envelope as encode_envelope
from ..backends._codec import encode_header as encode_header
from ..backends._codec import message_envelope_template as message_envelope_template

__all__ = ("decode_envelope", "encode_envelope", "encode_header", "message_envelope_template")
