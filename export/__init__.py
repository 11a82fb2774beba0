"""keras-dae export: SavedModel for serving, TFLite for the edge, checked against Keras.

`export.pipeline.export_model` does the work; `python -m export` is its command line. The modules
used at inference (`litert`, `infer`, `manifest`, `micro`) do not import TensorFlow."""
