"""Serving FECNet with Triton Inference Server.

- `config`      typed pieces of a model config, rendered to config.pbtxt
- `checks`      configs parsed with Triton's own protobuf schema and checked against the exported model
- `exports`     export folders (fec-export) -> the ONNX file / engines a repository is built from
- `repository`  write a complete repository atomically (fec-triton)
- `backends`    model.py files of the python backend models (preprocess, ONNX Runtime embedding)
- `pipeline`    their work, importable here: image bytes -> model input -> embeddings
- `server`      locate and run tritonserver on 127.0.0.1 (fec-serve)
- `client`, `embedding`, `retrieval`, `load`   query it (fec-embed, the load test and benchmark)
"""

from fec.triton.errors import ClientError, ConfigCheckError, RepositoryError, ServerError, ServingError

__all__ = ["ClientError", "ConfigCheckError", "RepositoryError", "ServerError", "ServingError"]
