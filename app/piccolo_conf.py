"""Piccolo's configuration: the registered apps, and ``DB``, the engine in use.

``DB`` is not made on import: it is ``app.core.database.current_engine()``, the engine the
app, the CLI or a test chose, else the one ``COINS_DATABASE_URL`` names, opened on first use.
"""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.base import Engine

from app.core.database import current_engine

APP_REGISTRY = AppRegistry(
    apps=[
        "app.users.piccolo_app",
        "app.ledger.piccolo_app",
        "app.fraud.piccolo_app",
        "app.purchases.piccolo_app",
        "app.staff.piccolo_app",
        "app.audit.piccolo_app",
        "app.payouts.piccolo_app",
        "app.streams.piccolo_app",
        "app.gifts.piccolo_app",
        "app.spending.piccolo_app",
        "app.offers.piccolo_app",
    ]
)


def __getattr__(name: str) -> Engine:
    """Piccolo reads ``DB`` with ``getattr``; a module ``__getattr__`` answers it lazily."""
    if name == "DB":
        return current_engine()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
