from piccolo.columns import Boolean, Date, Text, Timestamptz, Varchar
from piccolo.table import Table


class User(Table, tablename="coins_user"):
    handle = Varchar(length=24, unique=True)
    display_name = Varchar(length=64)
    password_hash = Text()
    birth_date = Date()
    show_on_leaderboards = Boolean(default=True)
    frozen = Boolean(default=False)
    frozen_reason = Text(default="")
    created_at = Timestamptz()
