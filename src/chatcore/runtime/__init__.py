"""The runtime: the chat server, its connections and their handlers, the hub, outboxes and the
parts the server is made of. Built on :mod:`chatcore.wire` and :mod:`chatcore.backends`.
"""

__all__ = ()
