"""The embedding model: which one (model_source), texts cut into its windows (chunking), and what runs it
(encoders, onnx_encoder)."""
