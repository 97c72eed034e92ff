from piccolo.columns import JSON, BigInt, Text, Timestamptz, Varchar
from piccolo.table import Table


class AuditEntry(Table, tablename="audit_entry"):
    """One staff action. Append-only: database triggers refuse updates and deletes."""

    actor = Varchar(length=24)
    actor_role = Varchar(length=16)
    action = Varchar(length=64)
    target_type = Varchar(length=32)
    target_id = Varchar(length=64)
    before = JSON(null=True, default=None)
    after = JSON(null=True, default=None)
    reason = Text(default="")
    created_at = Timestamptz()
    staff_id = BigInt(null=True, default=None)
