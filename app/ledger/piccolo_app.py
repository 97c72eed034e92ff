from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.ledger.tables import Account, Operation, Transfer

APP_CONFIG = AppConfig(
    app_name="ledger",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Account, Operation, Transfer],
    migration_dependencies=["app.users.piccolo_app"],
    commands=[],
)
