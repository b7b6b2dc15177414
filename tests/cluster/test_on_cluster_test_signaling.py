from tests.functional.test_signaling import *  # noqa: F403
