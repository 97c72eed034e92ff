from piccolo.columns import JSON, BigInt, Text, Timestamptz, Varchar
from piccolo.table import Table


class FraudFlag(Table, tablename="fraud_flag"):
    """A rule's suspicion about one user, waiting for (or closed by) a moderator."""

    subject_user_id = BigInt()
    rule = Varchar(length=40)
    # What makes two flags of one rule the same suspicion (e.g. the other party's id).
    pattern_key = Varchar(length=128, default="")
    severity = Varchar(length=16)
    evidence = JSON()
    status = Varchar(length=16, default="OPEN")
    reviewer = Varchar(length=64, null=True, default=None)
    note = Text(default="")
    created_at = Timestamptz()
    reviewed_at = Timestamptz(null=True, default=None)


class GiftReversal(Table, tablename="gift_reversal"):
    """A moderator took a gift back: the compensating ledger operation, once per gift event."""

    gift_event_id = BigInt()
    operation_id = BigInt()
    flag_id = BigInt(null=True, default=None)
    reversed_by = Varchar(length=64)
    reason = Text()
    created_at = Timestamptz()
