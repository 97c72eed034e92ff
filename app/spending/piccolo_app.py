from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.spending.tables import PurchaseLimit, SpendingDay, SpendingLimit

APP_CONFIG = AppConfig(
    app_name="spending",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[SpendingDay, SpendingLimit, PurchaseLimit],
    migration_dependencies=["app.users.piccolo_app"],
    commands=[],
)
