"""The Textual terminal UI. Imported only when the TUI is launched.

Textual paints at most MAX_FPS times a second and schedules a paint one frame
after a change; at the default 60 that frame alone is ~17 ms, most of the
key-press-to-repaint latency. 120 halves it; TEXTUAL_FPS still overrides.
"""

import os

os.environ.setdefault("TEXTUAL_FPS", "120")
