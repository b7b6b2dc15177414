from tests.functional.test_cross_node import *  # noqa: F403
