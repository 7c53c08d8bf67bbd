"""The broker and store contracts, what the broker carries (envelopes), the user directory, and
the in-memory implementations. Built on :mod:`chatcore.wire` only.
"""

__all__ = ()
