"""The photo model's configuration (`fec-triton --photos`): photos in, faces out, the outputs sized by the faces found.

    <name>_photo   python backend, max_batch_size 0 (one photo per request, no dynamic batching of its own)
      input   image       TYPE_STRING [1]        one encoded photo
      outputs boxes       TYPE_FP32   [-1, 4]    x1, y1, x2, y2 in the photo's pixels, best face first
              scores      TYPE_FP32   [-1]       the detector's confidence
              landmarks   TYPE_FP32   [-1, 5, 2] eyes, nose, mouth corners (fec.detect.LANDMARK_NAMES), pixels
              embeddings  TYPE_FP32   [-1, D]    from the repository's embedding model, called through BLS

It is a model of its own, not an ensemble step: an ensemble passes batch-shaped tensors between its steps,
and one photo holds any number of faces (none included). The embedding model it calls is named in its
parameters, so `fec.triton.server.plan_loading` skips it with that model.
"""

from __future__ import annotations

from fec.detect import DEFAULT_DETECTOR
from fec.detect.convention import require_detector
from fec.runtimes.triton_client import IMAGE_INPUT, PHOTO_KIND, PHOTO_OUTPUTS, model_name
from fec.triton.config import InstanceGroup, ModelConfig, Tensor
from fec.triton.serving import FaceSettings

CALLS_PARAMETER = "embedding_model"  # the model a python model calls through BLS: loaded first, or it is skipped
PHOTO_DETECTOR = DEFAULT_DETECTOR


def photo_config(ensemble: str, embedding: ModelConfig, faces: FaceSettings, instances: int, comment: str,
                 time_budget_s: float = 30.0) -> ModelConfig:
    """The photo model calling `embedding` (its config: input, output and batch limit are read from it); a photo
    whose work takes longer than `time_budget_s` fails alone (fec.triton.serving.Deadline)."""
    require_detector(faces.convention, PHOTO_DETECTOR, f"{model_name(ensemble, PHOTO_KIND)} (the photo model)")
    model_input, model_output = embedding.inputs[0], embedding.outputs[0]
    dims = {"boxes": (-1, 4), "scores": (-1,), "landmarks": (-1, 5, 2), "embeddings": (-1, *model_output.dims),
            "left_out": (1,)}
    types = {"left_out": "TYPE_INT32"}
    parameters = (
        *faces.parameters(), (CALLS_PARAMETER, embedding.name), ("embedding_input", model_input.name),
        ("embedding_output", model_output.name), ("embedding_max_batch", str(embedding.max_batch_size)),
        ("embedding_dim", str(model_output.dims[0])), ("detector", PHOTO_DETECTOR),
        ("detector_threads", "1" if instances > 1 else "0"), ("time_budget_s", f"{time_budget_s:g}"))
    return ModelConfig(
        name=model_name(ensemble, PHOTO_KIND), backend="python", max_batch_size=0,
        inputs=(Tensor(IMAGE_INPUT, "TYPE_STRING", (1,)),),
        outputs=tuple(Tensor(name, types.get(name, "TYPE_FP32"), dims[name]) for name in PHOTO_OUTPUTS),
        instance_groups=(InstanceGroup("KIND_CPU", instances),), parameters=parameters, comment=comment)


def photo_comment(faces: FaceSettings, embedding: str) -> str:
    """The config's comment: what the model does, with the crop rule it was given."""
    boxes = "boxed as training's boxes were drawn" if faces.convention else "boxed as MTCNN boxed them (no box convention)"
    return (f"A photo -> every face (MTCNN, eyes levelled, {boxes}, margin {faces.margin})\n"
            f"-> boxes, scores, landmarks, and embeddings from {embedding} (BLS).")
