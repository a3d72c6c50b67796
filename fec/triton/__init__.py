"""Serving FECNet with Triton Inference Server.

- `options`        what fec-triton asks for (RepositoryOptions), light enough for `--help`
- `config`         typed pieces of a model config, rendered to config.pbtxt
- `checks`         configs parsed with Triton's own protobuf schema and checked against the exported model
- `exports`        export folders (fec-export) -> the ONNX file / engines a repository is built from
- `model_plans`, `repository`   plan each model; write a complete repository atomically (fec-triton)
- `python_models`  model.py files of the python backend models (preprocess, fec runners, photos)
- `serving`, `photos`   their work, importable here: image bytes -> model input -> embeddings, refusals
- `server`         locate and run tritonserver on 127.0.0.1 (fec-serve)
- `load_generator` concurrent clients for the load test and benchmark

Embedding picture files and photos with a served model or a local checkpoint (fec-embed) is `fec.embedding`.

The client (and the Triton runner) live below, in `fec.runtimes.triton_client`: verification and
benchmarks reach a server through the runner interface without importing this package.
"""

from fec.triton.errors import ClientError, ConfigCheckError, RepositoryError, ServerError, ServingError

__all__ = ["ClientError", "ConfigCheckError", "RepositoryError", "ServerError", "ServingError"]
