from piccolo.columns import Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class StaffUser(Table, tablename="staff_user"):
    """Someone who works in the admin; separate from users of the app."""

    handle = Varchar(length=24, unique=True)
    display_name = Varchar(length=64)
    password_hash = Text()
    role = Varchar(length=16)
    failed_sign_ins = Integer(default=0)
    locked_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


class StaffSession(Table, tablename="staff_session"):
    """A server-side admin session; the cookie holds a secret whose SHA-256 is ``token_hash``."""

    token_hash = Varchar(length=64, unique=True)
    staff_id = Integer()
    created_at = Timestamptz()
    last_seen_at = Timestamptz()
