from tests.functional.test_consult import *  # noqa: F403
