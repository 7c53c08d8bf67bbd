"""ChatBoard settings. Production values come from the environment (see docs/chatboard.md).

SECRET_KEY      required unless DEBUG is on
DEBUG           "1"/"true" turns debug on (default off)
ALLOWED_HOSTS   comma-separated host names (default: localhost names)
DATABASE_URL    e.g. postgres://user@host:5432/chatboard (default: SQLite next to manage.py)
CHATCORE_REDIS_URL  a Redis broker, so several server processes share rooms and presence
CHATCORE_REDIS_PREFIX  its key prefix (default "chatboard:")
CHATCORE_BROKER  "postgres": the database (PostgreSQL) is the broker too, with no Redis
CHATCORE_POSTGRES_PREFIX  that broker's table and channel prefix (default "chatboard_")
CHATCORE_REVALIDATE  seconds between checks of each chat socket's login (default 60)
CHATCORE_ALLOWED_ORIGINS  comma-separated page origins allowed besides the site's own
CHATCORE_LIMITS  a JSON object of chatcore.Limits fields, e.g. {"rate": 20, "presence_grace": 3000}
CHATCORE_METRICS_TOKEN  lets a Prometheus scraper read /metrics (Authorization: Bearer <token>)
MEDIA_ROOT      where avatars are stored (default: media/ next to manage.py)
EMAIL_BACKEND   Django's email backend (default: the console with DEBUG, else SMTP); EMAIL_FILE_PATH,
                EMAIL_HOST, EMAIL_PORT (as MAILERS options on Django 6.1+)
CHATBOARD_URL   the site's address in emails (default http://127.0.0.1:8000)
CHATBOARD_HOOKS  the chat hooks to install (default "board.hooks.install")
CHATBOARD_NOTIFY_WINDOW  ms an offline user's notices are gathered into one email (default 60000)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

import chatcore_django
import django

BASE_DIR = Path(__file__).resolve().parent.parent


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


DEBUG = _flag("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("set SECRET_KEY (or DEBUG=1 for a local, insecure key)")
    SECRET_KEY = "insecure-local-development-key-do-not-deploy"
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "chatcore_django",
    "board",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatboard.urls"
ASGI_APPLICATION = "chatboard.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=0
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [chatcore_django.STATIC_DIR]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or BASE_DIR / "media")
# Uploads above this go to a temporary file; the avatar form refuses anything over 2 MB anyway.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 3_145_728

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG and _flag("HTTPS")

CHATCORE = {
    "USER": "board.chat.chat_user",
    # The site's staff (is_staff) moderate every room: kick, ban, mute, appoint moderators.
    "POLICY": "chatcore_django.policy.StaffPolicy",
    # Set for several server processes: they share rooms, presence and fan-out through Redis.
    "REDIS_URL": os.environ.get("CHATCORE_REDIS_URL") or None,
    "REDIS_PREFIX": os.environ.get("CHATCORE_REDIS_PREFIX") or "chatboard:",
    # Or, with no Redis, CHATCORE_BROKER=postgres: LISTEN/NOTIFY on the site's PostgreSQL.
    "BROKER": os.environ.get("CHATCORE_BROKER") or None,
    "POSTGRES_PREFIX": os.environ.get("CHATCORE_POSTGRES_PREFIX") or "chatboard_",
    # A deactivated user, an ended session or a new password ends the sockets within this time.
    "REVALIDATE": float(os.environ.get("CHATCORE_REVALIDATE") or 60),
    "ALLOWED_ORIGINS": [
        origin.strip()
        for origin in os.environ.get("CHATCORE_ALLOWED_ORIGINS", "").split(",")
        if origin.strip()
    ],
    # Any chatcore.Limits field; chatcore_django checks them at start-up.
    "LIMITS": json.loads(os.environ.get("CHATCORE_LIMITS") or "{}"),
    # /metrics is for staff, and for a scraper that sends this token.
    "METRICS_TOKEN": os.environ.get("CHATCORE_METRICS_TOKEN") or None,
    # Emails to offline users, and the dice bot (/roll): board/hooks.py, docs/hooks.md.
    "HOOKS": os.environ.get("CHATBOARD_HOOKS") or "board.hooks.install",
}

# Emails (offline notices): printed on the console in development, SMTP (EMAIL_HOST, EMAIL_PORT)
# otherwise. Django 6.1 configures mail with MAILERS; before it, with the EMAIL_* settings.
_mail_backend = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend"
)
_mail_options: dict[str, object] = {}
if os.environ.get("EMAIL_FILE_PATH"):
    _mail_options["file_path"] = os.environ["EMAIL_FILE_PATH"]
if os.environ.get("EMAIL_HOST"):
    _mail_options["host"] = os.environ["EMAIL_HOST"]
if os.environ.get("EMAIL_PORT"):
    _mail_options["port"] = int(os.environ["EMAIL_PORT"])
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": _mail_backend, "OPTIONS": _mail_options}}
else:
    EMAIL_BACKEND = _mail_backend
    for _name, _value in _mail_options.items():
        globals()["EMAIL_" + _name.upper()] = _value
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL") or "chatboard@localhost"
# The site's address, for links in emails.
CHATBOARD_URL = os.environ.get("CHATBOARD_URL") or "http://127.0.0.1:8000"
# Milliseconds an offline user's notices are gathered into one email.
CHATBOARD_NOTIFY_WINDOW = int(os.environ.get("CHATBOARD_NOTIFY_WINDOW") or 60_000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"chatcore": {"handlers": ["console"], "level": "INFO"}},
}
