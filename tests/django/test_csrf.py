"""CSRF on ChatBoard's forms: a POST without the token is refused with 403 and changes nothing;
the same POST with the token the site handed out goes through."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from .factories import PASSWORD, make_user

NEW_PASSWORD = PASSWORD + "-changed"


def guarded(user: Any | None = None) -> Client:
    """A client that gets CSRF checks like a browser (the test client skips them by default)."""
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    return client


def with_token(client: Client, page: str, form: dict[str, str]) -> dict[str, str]:
    """``form`` with the token the site put in ``page`` (and in the CSRF cookie)."""
    assert client.get(page).status_code == 200
    return {**form, "csrfmiddlewaretoken": client.cookies[settings.CSRF_COOKIE_NAME].value}


def logged_in_as(client: Client) -> Any:
    return client.session.get("_auth_user_id")


def test_signup_without_a_token_is_refused() -> None:
    username = f"forged{make_user().pk}"
    form = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    client = guarded()
    assert client.post("/accounts/signup/", form).status_code == 403
    assert not get_user_model().objects.filter(username=username).exists()
    done = client.post("/accounts/signup/", with_token(client, "/accounts/signup/", form))
    assert done.status_code == 302
    assert get_user_model().objects.filter(username=username).exists()


def test_login_without_a_token_is_refused() -> None:
    user = make_user()
    form = {"username": user.username, "password": PASSWORD}
    client = guarded()
    assert client.post("/accounts/login/", form).status_code == 403
    assert logged_in_as(client) is None
    done = client.post("/accounts/login/", with_token(client, "/accounts/login/", form))
    assert done.status_code == 302
    assert logged_in_as(client) == str(user.pk)


def test_logout_without_a_token_is_refused() -> None:
    user = make_user()
    client = guarded(user)
    assert client.post("/accounts/logout/").status_code == 403
    assert logged_in_as(client) == str(user.pk)  # a forged form cannot log anyone out
    form = with_token(client, "/accounts/profile/", {})
    assert client.post("/accounts/logout/", form).status_code == 302
    assert logged_in_as(client) is None


def test_profile_change_without_a_token_is_refused() -> None:
    from board.models import profile_of  # type: ignore[import-not-found]

    user = make_user(display_name="Before")
    form = {"display_name": "Forged", "email": "", "about": "set by another site"}
    client = guarded(user)
    assert client.post("/accounts/profile/", form).status_code == 403
    assert profile_of(user).display_name == "Before"
    done = client.post("/accounts/profile/", with_token(client, "/accounts/profile/", form))
    assert done.status_code == 302
    assert profile_of(user).display_name == "Forged"


def test_password_change_without_a_token_is_refused() -> None:
    user = make_user()
    form = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    client = guarded(user)
    assert client.post("/accounts/password/", form).status_code == 403
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert not user.check_password(NEW_PASSWORD)
    done = client.post("/accounts/password/", with_token(client, "/accounts/password/", form))
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


@pytest.mark.parametrize(
    "page", ["/accounts/signup/", "/accounts/login/", "/accounts/profile/", "/accounts/password/"]
)
def test_every_form_carries_the_token(page: str) -> None:
    client = guarded(make_user()) if page in ("/accounts/profile/", "/accounts/password/") else None
    response = (client or guarded()).get(page)
    assert response.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in response.content
