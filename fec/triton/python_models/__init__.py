"""model.py files for Triton's python backend, copied into a repository by `fec-triton`.

They run inside `triton_python_backend_stub` (where `triton_python_backend_utils` exists), import
fec from the server's Python and leave the work to `fec.triton.serving`, so this package itself
never imports the server's utilities.
"""

from __future__ import annotations

from importlib import resources

PREPROCESS = "preprocess_model.py"
RUNNER_EMBEDDING = "runner_model.py"
PHOTO = "photo_model.py"
FUSED = "fused_model.py"  # image bytes -> embeddings in one model: the python kinds' <name>


def template_text(name: str) -> str:
    """The source of one backend file, to be written as `<model>/1/model.py`."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
