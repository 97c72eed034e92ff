from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.fraud.tables import FraudFlag, GiftReversal, PayoutReviewHold

APP_CONFIG = AppConfig(
    app_name="fraud",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[FraudFlag, GiftReversal, PayoutReviewHold],
    migration_dependencies=["app.users.piccolo_app", "app.gifts.piccolo_app"],
    commands=[],
)
