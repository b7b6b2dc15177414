"""The resume suite again with ``rooms.state = "redis"``.

Regression (issue 11): a speaker resuming while the old socket lingered had that socket
closed with 1006 instead of 4409 (``replaced``) on the Redis room state. The new join
awaited Redis after queuing the close; the old socket's writer then called aiohttp's
``close`` while the old socket's reader had a ``receive`` pending, and that drops the
connection right after the close frame, so the page's answer failed and it read 1006.
``test_a_speaker_whose_old_socket_lingers_takes_the_seat_over_at_once`` pins it here.
"""

from tests.functional.test_resume import *  # noqa: F403
