from tests.functional.test_rewards import *  # noqa: F403
