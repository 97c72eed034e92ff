from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.users.tables import User

APP_CONFIG = AppConfig(
    app_name="users",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[User],
    migration_dependencies=[],
    commands=[],
)
