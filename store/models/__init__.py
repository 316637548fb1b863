"""All eseal tables. Importing this package imports every module in it, so `Base.metadata`
is complete for Alembic (autogenerate and the drift test) without a list to keep in sync:
a package that adds `store/models/<name>.py` needs no line here.
"""

from __future__ import annotations

import importlib
import pkgutil

from store.models.base import Base, UTCDateTime, utcnow

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

from store.models.audit import AuditCheckpoint, AuditHead, AuditRecord  # noqa: E402

__all__ = ["AuditCheckpoint", "AuditHead", "AuditRecord", "Base", "UTCDateTime", "utcnow"]
