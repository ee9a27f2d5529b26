"""The ONNX Runtime engine (the ``onnx`` extra: ``pip install 'sentkit[onnx]'``).

- :mod:`~sentkit.inference.onnx.export` (needs torch): the pipeline as one fused ONNX graph,
  checked against torch and cached by model content (:mod:`~sentkit.inference.onnx.cache`).
- :class:`~sentkit.encoders.onnx_encoder.OnnxEncoder`: encodes with onnxruntime, tokenizers and
  numpy only, for fast-starting tools and servers.
- ``SentenceTransformer(..., backend="onnx")``: the full API, with the forward pass on the graph
  (:mod:`~sentkit.inference.onnx.forward`).
- :mod:`~sentkit.inference.onnx.quantize`: int8 graphs (dynamic, or static calibrated on texts).
"""
