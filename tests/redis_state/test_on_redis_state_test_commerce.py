from tests.functional.test_commerce import *  # noqa: F403
