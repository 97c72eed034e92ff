from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.fraud.tables import FraudFlag

APP_CONFIG = AppConfig(
    app_name="fraud",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[FraudFlag],
    migration_dependencies=["app.users.piccolo_app"],
    commands=[],
)
