"""How the ORM store's database calls fail: an outage is :class:`Unavailable`."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import DatabaseError, IntegrityError

from chatcore.wire.errors import Unavailable

__all__ = ("db_errors",)

_P = ParamSpec("_P")
_T = TypeVar("_T")


def db_errors(fn: Callable[_P, _T]) -> Callable[_P, _T]:
    """Database errors that are not the caller's fault become :class:`Unavailable`."""

    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return fn(*args, **kwargs)
        except IntegrityError:
            raise  # a broken invariant, not an outage
        except DatabaseError as error:
            raise Unavailable("the database is unavailable; try again") from error

    return guarded
