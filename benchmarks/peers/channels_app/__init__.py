"""Django Channels as its official tutorial writes a chat room, on an in-memory or Redis layer."""
