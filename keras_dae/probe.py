"""The linear probe: softmax regression on frozen features, trained with Keras. Measured on the
DAE's 500-wide hidden layer (2 shared cores): scikit-learn's L-BFGS LogisticRegression took 25 s
per fit on 10,000 rows (95.4% test accuracy) and 142 s on all 60,000 (96.4%); this probe fits
all 60,000 in 5 epochs in 5-10 s (96.1%; on z: 87.5%, L-BFGS 87.8%)."""

import keras
import numpy as np

EPOCHS = 5
BATCH = 256
LEARNING_RATE = 1e-2


def probe_accuracy(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    seed: int,
    epochs: int = EPOCHS,
) -> float:
    """Test accuracy of a softmax layer trained (Adam, cross-entropy) on standardized features;
    `seed` draws its initial weights and the order of every epoch's batches."""
    mean, std = train_features.mean(axis=0), train_features.std(axis=0) + 1e-6
    classes = int(max(train_labels.max(), test_labels.max())) + 1
    init = keras.initializers.GlorotUniform(seed=seed)
    probe = keras.Sequential(
        [
            keras.Input((train_features.shape[1],)),
            keras.layers.Dense(classes, "softmax", kernel_initializer=init),
        ]
    )
    probe.compile(
        keras.optimizers.Adam(LEARNING_RATE),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    x, rng = (train_features - mean) / std, np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        probe.fit(x[order], train_labels[order], batch_size=BATCH, shuffle=False, verbose=0)
    _, accuracy = probe.evaluate(
        (test_features - mean) / std, test_labels, batch_size=1000, verbose=0
    )
    return float(accuracy)
