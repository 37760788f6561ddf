"""The one exception type for mistakes a user can make (bad file, bad number, missing weights)."""


class CgnArtError(Exception):
    """A problem the user can fix; the message says what was wrong and what to do.

    Pages show it with ``st.error`` and keep running; the CLI prints it on one line and exits 1.
    """
