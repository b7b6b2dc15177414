from tests.functional.test_hooks import *  # noqa: F403
