"""Triton python backend: encoded image bytes (+ optional face boxes) -> embeddings, in one model.

Written by fec-triton as the model `<name>` itself for the python kinds (ort-python, ov-python), in place of the
ensemble preprocess -> embedding model, with the ensemble's name and tensors. Why one model: each python-backend
model is a separate process, and a request crossing two of them pays two round trips through shared memory and
two schedulers, which cost more than decoding a small face and running the model on it (benchmarks/triton.md).
Here the pictures of every request the dynamic batcher hands over are decoded, cropped and resized as training
does (fec.triton.serving.faces_of_pictures, uint8) and run as one batch on the runner of `<name>_<kind>` (fec.runtimes:
ONNX Runtime or OpenVINO) on the same ONNX file: ONNX Runtime normalises the uint8 faces in front of its graph
(fec.export.baked_input), OpenVINO gets them normalised by table lookup (fec.triton.fused). Each CPU instance
runs on a core of its own when the model has one instance per core (parameter pin_cores,
fec-triton --no-pin-cores to leave it out).

A bad picture or box fails its own request alone (INVALID_ARG: HTTP 400, gRPC INVALID_ARGUMENT); a failure of
the runtime is INTERNAL (500); non-finite embeddings are never returned.
"""

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        from fec.triton.fused import PictureEmbedder, pin_instance, runner_for_faces
        from fec.triton.serving import FaceSettings, model_settings

        config, parameters = model_settings(args)
        if parameters.get("pin_cores") == "1":
            pin_instance(args, config)
        faces = FaceSettings.from_parameters(parameters)
        runner = runner_for_faces(args, parameters, faces.prep)
        self.embedder = PictureEmbedder.for_model(faces, runner.infer, runner.input_format)
        self.output_name = config["output"][0]["name"]
        size = self.embedder.faces.prep.input_size
        for batch in sorted({1, int(config["max_batch_size"])}):  # warm-up: image bytes cannot be zeros in the config
            self.embedder.model_output(np.zeros((batch, size, size, 3), np.uint8))

    def execute(self, requests):
        inputs = [(pb_utils.get_input_tensor_by_name(request, "image").as_numpy(), boxes_of(request))
                  for request in requests]
        return [self.response(result) for result in self.embedder.embed(inputs)]

    def response(self, result):
        from fec.triton.serving import RequestFailure

        if isinstance(result, RequestFailure):
            error = pb_utils.TritonError(result.message, getattr(pb_utils.TritonError, result.code))
            return pb_utils.InferenceResponse(output_tensors=[], error=error)
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(self.output_name, result)])


def boxes_of(request):
    tensor = pb_utils.get_input_tensor_by_name(request, "box")
    return None if tensor is None else tensor.as_numpy()
