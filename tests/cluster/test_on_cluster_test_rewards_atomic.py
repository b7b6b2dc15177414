from tests.functional.test_rewards_atomic import *  # noqa: F403
