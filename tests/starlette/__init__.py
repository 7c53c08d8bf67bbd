"""Tests of the Starlette adapter, the Python and browser clients, and the example app."""
