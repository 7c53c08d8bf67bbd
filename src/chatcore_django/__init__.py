"""Django Channels adapter for chatcore (see docs/django.md)."""
