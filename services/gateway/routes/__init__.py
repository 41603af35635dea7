"""Route modules of the gateway, one per area (system, media, publishing, feedback, search…).

Every module in this package is imported at start; its @route functions join the table.
"""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
