"""keras-dae export: SavedModel for serving, TFLite for the edge, checked against Keras.

`keras_dae.export.convert.pipeline.export_model(ExportConfig)` does the work (TensorFlow, the
[train] install); `python -m export` is its command line. `layout` owns the folder's shape,
`publish` puts a version in place whole, `verify` judges a folder: those, and every module here
outside `convert/`, import no TensorFlow."""
