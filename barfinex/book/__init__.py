"""Order book plumbing above the compiled book: exchange sync (sync.py)."""
from barfinex.book.sync import (REJECTED, SNAPSHOT_NEEDED, STATUS_CHANGED, BookEvent, BookSync,
                                SyncStats)

__all__ = ["BookEvent", "BookSync", "SyncStats", "STATUS_CHANGED", "SNAPSHOT_NEEDED", "REJECTED"]
