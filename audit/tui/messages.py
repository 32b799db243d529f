"""Messages the app posts to its screens."""

from textual.message import Message


class DatabaseChanged(Message):
    """Another process (or another connection) committed: the screen should show what is stored now."""
