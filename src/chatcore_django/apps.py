"""The Django app: models, admin, and the signals that close a user's sockets (logout, a new
password, a deactivated or deleted user, a deleted session)."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save

from chatcore import CloseCode

__all__ = ("ChatcoreConfig",)


class ChatcoreConfig(AppConfig):
    name = "chatcore_django"
    label = "chatcore_django"
    verbose_name = "Chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        user_logged_out.connect(_close_sockets, dispatch_uid="chatcore_django.logout")
        post_save.connect(
            _recheck_sockets,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="chatcore_django.password",
        )
        post_delete.connect(
            _user_deleted, sender=settings.AUTH_USER_MODEL, dispatch_uid="chatcore_django.user"
        )
        if "django.contrib.sessions" in settings.INSTALLED_APPS:
            from django.contrib.sessions.models import Session

            post_delete.connect(
                _session_deleted, sender=Session, dispatch_uid="chatcore_django.session"
            )


def _close_sockets(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """A logged-out user keeps no open chat socket, in any tab or process."""
    if user is not None and user.pk is not None:
        from .sync import disconnect_user

        disconnect_user(user)


def _recheck_sockets(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A deactivated user keeps no open socket (4401, in every process).

    A new password ends the user's other sessions (Django checks a session against the
    password at each request), so their sockets, authenticated once at the handshake, must not
    outlive them: close them all with 1013. Clients reconnect at once; a session that is still
    valid (the one that changed the password) gets in again, the others are refused (403)."""
    if kwargs.get("created"):
        return  # a new account has no sockets yet
    if not getattr(instance, "is_active", True):
        from .sync import disconnect_user

        disconnect_user(instance)
        return
    # ``set_password`` keeps the new raw password in ``_password`` until the save completes.
    if getattr(instance, "_password", None) is not None:
        from .sync import disconnect_user

        disconnect_user(instance, CloseCode.TRY_AGAIN_LATER)


def _user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A deleted user keeps no open socket (4401, in every process)."""
    if instance.pk is not None:
        from .sync import disconnect_user

        disconnect_user(str(instance.pk))


def _session_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """The sockets of a deleted session close at once in this process (4401); other processes
    see it at their next check (``CHATCORE['REVALIDATE']``)."""
    from .logins import end_session

    end_session(instance.session_key)
