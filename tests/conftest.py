"""pytest runs absltest/tf.test cases without absl's main: mark the flags parsed so that
`create_tempdir` and friends work."""

from absl import flags

flags.FLAGS.mark_as_parsed()


def pytest_collection_modifyitems(items):
    """tf.test.TestCase's deprecated `test_session` helper is not a test: do not collect it."""
    items[:] = [item for item in items if item.name != "test_session"]
