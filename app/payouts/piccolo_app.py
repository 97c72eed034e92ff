from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.payouts.tables import Payout, PayoutDailyTotal, PayoutReviewHold, SandboxPayoutTransfer

APP_CONFIG = AppConfig(
    app_name="payouts",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Payout, PayoutDailyTotal, PayoutReviewHold, SandboxPayoutTransfer],
    migration_dependencies=["app.users.piccolo_app", "app.ledger.piccolo_app"],
    commands=[],
)
