"""The README written into every repository: what each model is and how to start a server on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fec.triton.repository import RepositorySummary


def repository_readme(summary: RepositorySummary) -> str:
    repo, name = summary.repo.as_posix(), summary.ensemble
    rows = "\n".join(f"| `{model}` | {text} |" for model, text in summary.models.items())
    notes = "".join(f"- {note}\n" for note in summary.notes)
    photos = photo_section(summary)
    return f"""# FECNet Triton model repository

Written by `fec-triton` (package `fec`); re-run it rather than editing these files.
Send encoded image bytes (JPEG, PNG, ...) to the ensemble `{name}` and get a 16-d, L2-normalised
expression embedding per image. Preprocessing runs on the server with the code used in training.

| model | what it is |
|---|---|
{rows}

{front_line(summary)}
{notes}
## Tensors of `{name}`

- input `image`: TYPE_STRING, dims [1], one encoded picture per batch row (shape [N, 1]);
- input `box` (optional): TYPE_FP32, dims [4], the face box as fractions of the picture's width and
  height, in the order left, right, top, bottom; without it the whole picture is the face;
- output `embeddings`: TYPE_FP32, dims [16] (shape [N, 16]).
{photos}
## Start a server

With fec installed (`pip install "fec[serve]"`), on 127.0.0.1, until Ctrl-C:

    fec-serve --repo {repo} --http-port 8000 --grpc-port 8001

It runs a full Triton install when there is one (`tritonserver` on PATH or under
/opt/tritonserver), otherwise the `tritonserver` shipped in the nvidia-pytriton wheel. That one has
only the python backend, so `fec-serve` loads just the models it can run: generate the repository
with `fec-triton ... --embedding ort-python` to serve the ensemble there.

With a full Triton install or the NGC container (the python models need `pip install "fec[cpu]"` in
the server's Python, since they import fec):

    tritonserver --model-repository=$PWD/{repo}
    docker run --rm --gpus all -p 8000:8000 -p 8001:8001 -v $PWD/{repo}:/models \\
        nvcr.io/nvidia/tritonserver:24.10-py3 tritonserver --model-repository=/models

The wheel's server by hand needs this environment (what `fec-serve` sets up): a copy of
`pytriton/tritonserver` with `python_backend_stubs/3.11/triton_python_backend_stub` copied into
`backends/python/`, `LD_LIBRARY_PATH` starting with the interpreter's LIBDIR
(`python -c "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"`) and the wheel's
`nvidia_pytriton.libs`, and the virtualenv's `bin` first on `PATH`; then

    tritonserver --model-repository=$PWD/{repo} --backend-directory=<copy>/backends \\
        --model-control-mode=explicit --load-model={name}

## Query it

    fec-embed --url http://127.0.0.1:8000 faces/ --out embeddings.npy
    fec-embed --url 127.0.0.1:8001 --protocol grpc faces/ --similar query.jpg --top 8

or from Python with tritonclient:

    import numpy as np, tritonclient.http as http
    client = http.InferenceServerClient("127.0.0.1:8000")
    image = http.InferInput("image", [1, 1], "BYTES")
    image.set_data_from_numpy(np.array([[open("face.jpg", "rb").read()]], dtype=object))
    embedding = client.infer("{name}", [image]).as_numpy("embeddings")  # shape (1, 16)
"""


def front_line(summary: RepositorySummary) -> str:
    """What `<name>` is: an ensemble using the embedding model, or (the python kinds) one model running its file."""
    if summary.fused:
        return (f"`{summary.ensemble}` is one python model with the ensemble's tensors: it decodes the pictures and runs "
                f"`{summary.embedding_model}`'s model.onnx itself (one process hop instead of two).")
    return f"The ensemble `{summary.ensemble}` uses `{summary.embedding_model}`."


def photo_section(summary: RepositorySummary) -> str:
    """The photo model's tensors, when the repository has one (fec-triton --photos)."""
    from fec.runtimes.triton_client import PHOTO_KIND, model_name

    photo = model_name(summary.ensemble, PHOTO_KIND)
    if photo not in summary.models:
        return ""
    return f"""
## Tensors of `{photo}` (photos: every face found)

One photo per request (max_batch_size 0), no box: the model finds every face (MTCNN, on the photo decoded with
its longer side at most 1280 px), levels and crops each as training cropped faces, and embeds them with
`{summary.embedding_model}`. F is the number of faces embedded, best first, 0 when there is none; a photo's
faces beyond the repository's cap (`fec-triton --max-faces`) are counted in `left_out`, not embedded. A photo
whose work takes longer than the repository's budget (`--photo-time-budget`) fails alone (HTTP 400) with its
reason; an instance per core keeps one slow photo from holding up the others.

- input `image`: TYPE_STRING, dims [1], one encoded photo;
- output `boxes`: TYPE_FP32, dims [-1, 4] (shape [F, 4]): x1, y1, x2, y2 in the photo's pixels;
- output `scores`: TYPE_FP32, dims [-1] (shape [F]): the detector's confidence;
- output `landmarks`: TYPE_FP32, dims [-1, 5, 2] (shape [F, 5, 2]): left eye, right eye, nose, mouth left,
  mouth right (as seen), in pixels;
- output `embeddings`: TYPE_FP32, dims [-1, 16] (shape [F, 16]);
- output `left_out`: TYPE_INT32, dims [1]: faces found beyond the cap.

    fec-embed --url http://127.0.0.1:8000 --detect photos/ --out faces.jsonl --similar query.jpg
"""
