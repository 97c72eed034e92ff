from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.staff.tables import StaffSession, StaffUser

APP_CONFIG = AppConfig(
    app_name="staff",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[StaffUser, StaffSession],
    migration_dependencies=[],
    commands=[],
)
