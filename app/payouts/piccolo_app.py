from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.payouts.tables import (
    Payout,
    PayoutAccount,
    PayoutDailyTotal,
    PayoutReviewHold,
    SandboxPayoutTransfer,
    StripePayoutTransfer,
)

APP_CONFIG = AppConfig(
    app_name="payouts",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[
        Payout,
        PayoutDailyTotal,
        PayoutReviewHold,
        SandboxPayoutTransfer,
        PayoutAccount,
        StripePayoutTransfer,
    ],
    migration_dependencies=["app.users.piccolo_app", "app.ledger.piccolo_app"],
    commands=[],
)
