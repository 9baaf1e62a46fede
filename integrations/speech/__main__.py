"""``python -m integrations.speech``: model folders and install-time assembly (see models.py)."""

import sys

from .models import main

sys.exit(main())
