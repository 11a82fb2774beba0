"""The run's figures as PNGs: image grids, loss curves, latent space, manifold. Drawn on
`matplotlib.figure.Figure` objects, so importing this leaves a notebook's plotting backend alone."""

import numpy as np
from matplotlib.figure import Figure

from keras_dae.core.durable import atomic_path
from keras_dae.core.mnist import IMAGE_SHAPE


def image_grid(images: np.ndarray, cols: int = 8) -> np.ndarray:
    """Tiles [N, 784] (or [N, 28, 28]) images into one 2-D array, `cols` per row, 1 px gaps."""
    images = np.asarray(images).reshape(-1, *IMAGE_SHAPE)
    rows = -(-len(images) // cols)
    h, w = IMAGE_SHAPE
    grid = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1), np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = image
    return grid


def save(fig: Figure, path: str) -> None:
    """Writes `fig` as a PNG, atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")


def save_image_grid(path: str, images: np.ndarray, title: str) -> None:
    """An 8-column grid of images, white digits on black as in the original."""
    fig = Figure(figsize=(4.2, 4.5))
    ax = fig.subplots()
    ax.imshow(image_grid(images), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    save(fig, path)


def save_loss_curves(path: str, history: list, decay_epoch: int, loss_name: str) -> None:
    """Train and test loss per epoch, the learning-rate decay marked."""
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="train (noise, dropout on)")
    ax.plot(epochs, [h["test_loss_clean"] for h in history], "s-", label="test, clean input")
    if history[0].get("test_loss_noisy") is not None:
        ax.plot(epochs, [h["test_loss_noisy"] for h in history], "^-", label="test, noised input")
    if decay_epoch <= epochs[-1]:
        ax.axvline(decay_epoch - 0.5, color="gray", ls="--", label="learning-rate decay")
    ax.set(xlabel="epoch", ylabel=f"{loss_name.upper()} per pixel", title="Reconstruction loss")
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, path)


def pca_2d(codes: np.ndarray) -> np.ndarray:
    """Projects [N, z] codes onto their two principal components."""
    centered = codes - codes.mean(axis=0)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    xy = centered @ vt[:2].T
    return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))  # Fewer than 2 codes: one component.


def save_latent_scatter(path: str, codes: np.ndarray, labels: np.ndarray) -> None:
    """The test set in latent space, coloured by label (PCA to 2-D when z > 2)."""
    xy = codes if codes.shape[1] == 2 else pca_2d(codes)
    fig = Figure(figsize=(6.5, 5.5))
    ax = fig.subplots()
    points = ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab10", s=2, vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="label")
    axes = ("z1", "z2") if codes.shape[1] == 2 else ("PC1", "PC2")
    ax.set(
        xlabel=axes[0],
        ylabel=axes[1],
        title=f"Test set in latent space (z={codes.shape[1]}"
        f"{'' if codes.shape[1] == 2 else ', PCA'})",
    )
    save(fig, path)


def manifold_codes(codes: np.ndarray, n: int = 20) -> np.ndarray:
    """An n x n grid of 2-D codes spanning the 1st-99th percentile of the test codes."""
    lo, hi = np.percentile(codes, [1, 99], axis=0)
    z1, z2 = np.linspace(lo[0], hi[0], n), np.linspace(hi[1], lo[1], n)
    return np.array([[a, b] for b in z2 for a in z1], np.float32)


def save_manifold(path: str, images: np.ndarray, n: int = 20) -> None:
    """Decoder outputs over the latent plane, as laid out by `manifold_codes`."""
    fig = Figure(figsize=(7, 7))
    ax = fig.subplots()
    ax.imshow(image_grid(images, cols=n), cmap="gray", vmin=0, vmax=1)
    ax.set_title("Decoder output over the latent plane (z1 →, z2 ↑)")
    ax.axis("off")
    save(fig, path)
