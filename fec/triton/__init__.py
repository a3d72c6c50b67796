"""Serving FECNet with Triton Inference Server.

- `config`      typed pieces of a model config, rendered to config.pbtxt
- `checks`      configs parsed with Triton's own protobuf schema and checked against the exported model
- `exports`     export folders (fec-export) -> the ONNX file / engines a repository is built from
- `repository`  write a complete repository atomically (fec-triton)
- `backends`    model.py files of the python backend models (preprocess, ONNX Runtime embedding)
- `serving`     their work, importable here: image bytes -> model input -> embeddings, refusals
- `server`      locate and run tritonserver on 127.0.0.1 (fec-serve)
- `embedding`, `retrieval`, `load_generator`   query it (fec-embed, the load test and benchmark)

The client (and the Triton runner) live below, in `fec.runtimes.triton_client`: verification and
benchmarks reach a server through the runner interface without importing this package.
"""

from fec.triton.errors import ClientError, ConfigCheckError, RepositoryError, ServerError, ServingError

__all__ = ["ClientError", "ConfigCheckError", "RepositoryError", "ServerError", "ServingError"]
