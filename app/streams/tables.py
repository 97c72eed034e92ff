"""Live-stream tables; columns mirror ``piccolo_migrations/``."""

from piccolo.columns import BigInt, Integer, Timestamptz, Varchar
from piccolo.table import Table


class LiveStream(Table, tablename="live_stream"):
    host_id = BigInt()
    title = Varchar(length=120)
    status = Varchar(length=16)
    started_at = Timestamptz()
    ended_at = Timestamptz(null=True, default=None)
    coins_received = BigInt(default=0)
    gift_count = BigInt(default=0)


class StreamGifter(Table, tablename="stream_gifter"):
    """One sender's running total in one stream, and their current combo."""

    stream_id = BigInt()
    sender_id = BigInt()
    coins = BigInt(default=0)
    last_gift_id = BigInt(default=0)
    # Ties on coins go to whoever reached the total first: the earlier last gift.
    last_sent_at = Timestamptz()
    combo_count = Integer(default=0)


class StreamGoal(Table, tablename="stream_goal"):
    """A host's goal for a stream; active while ``cleared_at`` is NULL (one per stream)."""

    stream_id = BigInt()
    kind = Varchar(length=8)  # GIFT (count ``gift_id``s) or COINS
    gift_id = BigInt(null=True, default=None)
    target = BigInt()
    # What the gift settlement has counted; reads add what is still queued.
    progress = BigInt(default=0)
    title = Varchar(length=120, null=True, default=None)
    started_at = Timestamptz()
    completed_at = Timestamptz(null=True, default=None)
    completed_by_event_id = BigInt(null=True, default=None)
    cleared_at = Timestamptz(null=True, default=None)
