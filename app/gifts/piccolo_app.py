from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.gifts.tables import Gift, GiftCredit, GiftEvent, GiftMessage, GiftSettlement, GiftVersion

APP_CONFIG = AppConfig(
    app_name="gifts",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Gift, GiftVersion, GiftEvent, GiftCredit, GiftSettlement, GiftMessage],
    migration_dependencies=["app.ledger.piccolo_app", "app.streams.piccolo_app"],
    commands=[],
)
