from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.offers.tables import OfferCode, OfferUserRedemption, PartnerOffer, Redemption

APP_CONFIG = AppConfig(
    app_name="offers",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[PartnerOffer, OfferCode, Redemption, OfferUserRedemption],
    migration_dependencies=["app.ledger.piccolo_app"],
    commands=[],
)
