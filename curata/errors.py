"""The one error type users see.

Every failure a user can fix (bad config, unreadable folder, busy port, ...) is raised as
``CurataError`` with a message that says what happened and what to do. The CLI prints that
message as a single line and exits non-zero; anything else is a bug and keeps its traceback.
"""


class CurataError(Exception):
    """A problem the user can act on; ``str(err)`` is the whole message."""
