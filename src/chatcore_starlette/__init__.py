"""Starlette adapter for chatcore (see docs/starlette.md)."""
