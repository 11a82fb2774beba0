"""The training configuration: one frozen dataclass, validated before TensorFlow is imported."""

import dataclasses
import os

from keras_dae.core.errors import ConfigError

NOISE_KINDS = ("dropout", "mask", "gaussian")
LOSSES = ("ce", "mse")
STRATEGIES = ("default", "mirrored", "multi_worker")
# Fields that do not change what is trained: a run may be resumed with other values of these.
NOT_IDENTITY = frozenset(
    {"output_dir", "data_dir", "print_every", "tensorboard", "overwrite", "strategy"}
)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run; defaults are the original's."""

    add_noise: bool = True
    binarize_input: bool = True
    epochs: int = 10
    loss: str = "ce"
    learning_rate: float = 3e-4
    lr_decay_epoch: int = 6
    lr_decay_factor: float = 10.0
    latent_dim: int = 10
    batch_size: int = 64
    noise: str = "dropout"
    noise_rate: float = 0.5
    print_every: int = 100
    seed: int = 0
    dataset: str = "mnist"
    data_dir: str | None = None
    output_dir: str | None = None
    train_examples: int | None = None
    test_examples: int | None = None
    tensorboard: bool = False
    overwrite: bool = False
    strategy: str = "default"
    # Digit classes left out of the training split (test keeps them: anomaly detection).
    exclude_digits: tuple[int, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "loss", str(self.loss).lower())
        object.__setattr__(self, "noise", str(self.noise).lower())
        object.__setattr__(self, "exclude_digits", tuple(self.exclude_digits))
        for name in ("data_dir", "output_dir"):  # Absolute: history.json works from anywhere.
            if getattr(self, name):
                object.__setattr__(self, name, os.path.abspath(getattr(self, name)))
        for problem in _problems(self):
            raise ConfigError(problem)
        object.__setattr__(self, "exclude_digits", tuple(sorted(self.exclude_digits)))

    @property
    def run_name(self) -> str:
        """The original's result prefix, e.g. `DAE-CE-z10`."""
        kind = "DAE" if self.add_noise else "AE"
        return f"{kind}-{self.loss.upper()}-z{self.latent_dim}"

    @property
    def workdir(self) -> str:
        """Where outputs go: `output_dir`, else `runs/<run_name>`."""
        return self.output_dir or os.path.join("runs", self.run_name)

    def to_dict(self) -> dict:
        """The fields as JSON values (exclude_digits as a list, as history.json holds it)."""
        return dataclasses.asdict(self) | {"exclude_digits": list(self.exclude_digits)}

    @classmethod
    def from_dict(cls, saved: dict) -> "TrainConfig":
        """The config a `to_dict` (e.g. history.json's) describes; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in names})

    def differences(self, saved: dict) -> list[str]:
        """The fields that identify a run and differ between this config and `saved`; a field
        `saved` lacks (written before the field existed) counts as its default."""
        defaults = TrainConfig().to_dict()
        return sorted(
            k
            for k, v in self.to_dict().items()
            if k not in NOT_IDENTITY and saved.get(k, defaults[k]) != v
        )


def _problems(c: TrainConfig):
    """Yields a one-line description of each invalid value."""
    if c.loss not in LOSSES:
        yield f"loss must be one of {'|'.join(LOSSES)} (any case), got {c.loss!r}"
    if c.strategy not in STRATEGIES:
        yield f"strategy must be one of {'|'.join(STRATEGIES)}, got {c.strategy!r}"
    if c.noise not in NOISE_KINDS:
        yield f"noise must be one of {'|'.join(NOISE_KINDS)}, got {c.noise!r}"
    for name in ("epochs", "latent_dim", "batch_size", "lr_decay_epoch"):
        if not isinstance(getattr(c, name), int) or getattr(c, name) < 1:
            yield f"{name} must be an integer >= 1, got {getattr(c, name)!r}"
    for name in ("train_examples", "test_examples"):
        value = getattr(c, name)
        if value is not None and (not isinstance(value, int) or value < 1):
            yield f"{name} must be an integer >= 1, got {value!r}"
    if not 0 < c.learning_rate <= 1:
        yield f"learning_rate must be in (0, 1], got {c.learning_rate!r}"
    if not c.lr_decay_factor >= 1:
        yield f"lr_decay_factor must be >= 1, got {c.lr_decay_factor!r}"
    if c.noise == "gaussian":
        if not 0 < c.noise_rate <= 1:
            yield f"noise_rate (the gaussian sigma) must be in (0, 1], got {c.noise_rate!r}"
    elif not 0 < c.noise_rate < 1:
        yield f"noise_rate (the fraction of pixels dropped) must be in (0, 1), got {c.noise_rate!r}"
    if not isinstance(c.print_every, int) or c.print_every < 0:
        yield f"print_every must be an integer >= 0 (0: off), got {c.print_every!r}"
    if not isinstance(c.seed, int) or c.seed < 0:
        yield f"seed must be an integer >= 0, got {c.seed!r}"
    digits = c.exclude_digits
    if any(isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 9 for d in digits):
        yield f"exclude_digits must be digits 0-9, got {list(digits)!r}"
    elif len(set(digits)) != len(digits) or len(digits) == 10:
        yield f"exclude_digits must be distinct and leave a digit to train on, got {list(digits)!r}"
