"""pytest runs absltest/tf.test cases without absl's main: mark the flags parsed so that
`create_tempdir` and friends work."""

from absl import flags

flags.FLAGS.mark_as_parsed()
