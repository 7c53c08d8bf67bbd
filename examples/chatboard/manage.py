#!/usr/bin/env python
"""ChatBoard's command-line utility (run it from examples/chatboard/)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatboard.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
