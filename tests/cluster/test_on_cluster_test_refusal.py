from tests.functional.test_refusal import *  # noqa: F403
