from tests.functional.test_atomic import *  # noqa: F403
