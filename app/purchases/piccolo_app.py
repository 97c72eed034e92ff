from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.purchases.tables import Checkout, CoinPackage, CoinPackagePrice, Purchase, WebhookEvent

APP_CONFIG = AppConfig(
    app_name="purchases",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[CoinPackage, CoinPackagePrice, Purchase, WebhookEvent, Checkout],
    migration_dependencies=["app.users.piccolo_app", "app.ledger.piccolo_app"],
    commands=[],
)
