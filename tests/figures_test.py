"""Tests of keras_dae.figures: grid layout, PCA, the manifold grid, and PNG output."""

import os

import numpy as np
from absl.testing import absltest

from keras_dae import figures

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class FiguresTest(absltest.TestCase):
    def test_image_grid_layout(self):
        images = np.stack([np.full(784, i / 10, np.float32) for i in range(10)])
        grid = figures.image_grid(images, cols=8)
        self.assertEqual(grid.shape, (2 * 29 - 1, 8 * 29 - 1))
        self.assertEqual(grid[0, 0], 0.0)
        self.assertAlmostEqual(grid[0, 29 * 3], 0.3)  # 4th image, first row
        self.assertAlmostEqual(grid[29, 29], 0.9)  # 10th image: second row, second column
        self.assertEqual(grid[28, 0], 1.0)  # gap
        self.assertEqual(grid[29, 29 * 3], 1.0)  # empty cell

    def test_pca_orders_by_variance(self):
        rng = np.random.default_rng(0)
        codes = rng.normal(size=(500, 5)) * np.array([5.0, 0.1, 3.0, 0.1, 0.1])
        xy = figures.pca_2d(codes)
        self.assertEqual(xy.shape, (500, 2))
        self.assertAlmostEqual(xy[:, 0].std() / codes[:, 0].std(), 1.0, delta=0.05)
        self.assertAlmostEqual(xy[:, 1].std() / codes[:, 2].std(), 1.0, delta=0.05)

    def test_manifold_codes_span_the_codes(self):
        codes = np.random.default_rng(1).uniform(-3, 5, (1000, 2))
        grid = figures.manifold_codes(codes, n=4)
        self.assertEqual(grid.shape, (16, 2))
        self.assertAlmostEqual(grid[:, 0].min(), np.percentile(codes[:, 0], 1), places=4)
        self.assertAlmostEqual(grid[:, 1].max(), np.percentile(codes[:, 1], 99), places=4)
        self.assertGreater(grid[0, 1], grid[-1, 1])  # z2 grows upwards

    def test_pngs_are_written(self):
        folder = self.create_tempdir().full_path
        rng = np.random.default_rng(2)
        history = [
            {"epoch": e, "train_loss": 1 / e, "test_loss_clean": 1 / e, "test_loss_noisy": 1.1 / e}
            for e in (1, 2, 3)
        ]
        figures.save_image_grid(os.path.join(folder, "g.png"), rng.random((64, 784)), "g")
        figures.save_loss_curves(os.path.join(folder, "loss.png"), history, 2, "ce")
        figures.save_latent_scatter(
            os.path.join(folder, "latent.png"), rng.normal(size=(50, 10)), rng.integers(0, 10, 50)
        )
        figures.save_manifold(os.path.join(folder, "m.png"), rng.random((400, 784)))
        self.assertCountEqual(os.listdir(folder), ["g.png", "loss.png", "latent.png", "m.png"])
        for name in os.listdir(folder):
            with open(os.path.join(folder, name), "rb") as f:
                self.assertEqual(f.read(8), PNG_MAGIC)


if __name__ == "__main__":
    absltest.main()
