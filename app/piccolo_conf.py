"""Piccolo's configuration: the registered apps and the engine from ``COINS_DATABASE_URL``.

The app, the CLI and tests replace ``DB`` through ``app.core.database.use_engine``.
"""

import os

from piccolo.conf.apps import AppRegistry

from app.core.database import create_engine
from app.settings import DEFAULT_SQLITE_PATH, DatabaseSettings

DB = create_engine(
    DatabaseSettings(url=os.environ.get("COINS_DATABASE_URL", f"sqlite:///{DEFAULT_SQLITE_PATH}"))
)

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
