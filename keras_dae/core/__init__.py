"""keras-dae's TensorFlow-free core (the base install): configuration, errors, durable writes,
locking, signals, the run folder's files, MNIST's IDX files and preprocessing, corruptions; a
process's tree (what the tests and benchmarks of the server watch)."""
