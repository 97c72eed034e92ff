from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.fraud.tables import FraudFlag, GiftReversal

APP_CONFIG = AppConfig(
    app_name="fraud",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[FraudFlag, GiftReversal],
    migration_dependencies=["app.users.piccolo_app", "app.gifts.piccolo_app"],
    commands=[],
)
