"""keras-dae export: SavedModel for serving, TFLite for the edge, checked against Keras.

`export.pipeline.export_model(ExportConfig)` does the work; `python -m export` is its command
line. `layout` owns the folder's shape, `publish` puts a version in place whole, `verify` judges a
folder. Those and the modules used at inference (`config`, `litert`, `infer`, `manifest`,
`micro`) do not import TensorFlow."""
