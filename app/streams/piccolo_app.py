from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.streams.tables import LiveStream, StreamGifter, StreamGoal

APP_CONFIG = AppConfig(
    app_name="streams",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[LiveStream, StreamGifter, StreamGoal],
    migration_dependencies=["app.users.piccolo_app"],
    commands=[],
)
