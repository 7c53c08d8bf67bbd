"""Run by the wheel's own venv (not the test's): Django finds ``chatcore_django``'s migrations in
the installed package, applies them, and they match the models.

Usage: ``python -I installed_django.py``. Prints one JSON object.
"""

from __future__ import annotations

import io
import json
import sys

from django.apps import apps
from django.conf import settings
from django.core.management import call_command


def main() -> None:
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "chatcore_django"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        USE_TZ=True,
    )
    apps.populate(settings.INSTALLED_APPS)
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    import chatcore_django

    call_command("migrate", verbosity=0)
    applied = sorted(
        name
        for app, name in MigrationRecorder(connection).applied_migrations()
        if app == "chatcore_django"
    )
    # Exits with 1 (SystemExit) if the models need a migration the wheel does not have.
    call_command(
        "makemigrations", "chatcore_django", check=True, dry_run=True, stdout=io.StringIO()
    )
    print(
        json.dumps(
            {"chatcore_django": chatcore_django.__file__, "prefix": sys.prefix, "applied": applied}
        )
    )


if __name__ == "__main__":
    main()
