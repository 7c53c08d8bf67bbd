"""``python -m chatcore_server serve ...``: the ``chatcore`` command."""

import sys

from .cli import main

sys.exit(main())
