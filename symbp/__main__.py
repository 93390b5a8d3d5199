"""``python -m symbp`` runs the ``symbp`` command."""

import sys

from .cli import main

sys.exit(main())
