from tests.functional.test_room_session import *  # noqa: F403
