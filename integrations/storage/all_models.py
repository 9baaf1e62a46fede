"""Every table minhu keeps, registered on one metadata for Alembic.

The core storage tables live in :mod:`integrations.storage.models`; the
built-in work-order service and the staff accounts declare theirs next to
their code, on the same ``Base``. Importing this module registers them all.
"""

from __future__ import annotations

import integrations.miniprogram.models as _miniprogram_models
import integrations.staff.models as _staff_models
import integrations.storage.handoff_models as _handoff_models
import integrations.ticketing.builtin.models as _workorder_models
from integrations.storage.models import Base

__all__ = ["Base"]

_REGISTERED = (_handoff_models, _miniprogram_models, _staff_models, _workorder_models)
