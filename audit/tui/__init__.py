"""The Textual terminal UI. Imported only when the TUI is launched."""
