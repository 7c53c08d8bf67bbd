"""The wire contract: values, commands, events, errors, limits and the protocol that turns
frames into commands and events into frames. It imports nothing else of chatcore's.
"""

__all__ = ()
