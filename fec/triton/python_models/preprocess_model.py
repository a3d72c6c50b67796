"""Triton python backend: encoded image bytes (+ optional face boxes) -> the FECNet model input.

Written by fec-triton. The work is fec.triton.serving.prepare_faces, the preprocessing of training
and evaluation, so the server's inputs equal PyTorch's. A bad request (undecodable bytes, a picture
over the pixel cap, a bad face box) gets an INVALID_ARG error of its own (HTTP 400, gRPC
INVALID_ARGUMENT); anything else is INTERNAL (500). The other requests and the server carry on.
"""


import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        from fec.triton.serving import FaceSettings, model_settings

        config, parameters = model_settings(args)
        faces = FaceSettings.from_parameters(parameters)
        self.prep, self.margin, self.output_format = faces.prep, faces.margin, faces.output_format
        self.output_name = config["output"][0]["name"]

    def execute(self, requests):
        return [self.respond(request) for request in requests]

    def respond(self, request):
        from fec.triton.serving import RequestFailure, boxes_from_tensor, payloads_from_tensor, prepare_faces

        try:
            payloads = payloads_from_tensor(pb_utils.get_input_tensor_by_name(request, "image").as_numpy())
            box_tensor = pb_utils.get_input_tensor_by_name(request, "box")
            boxes = boxes_from_tensor(None if box_tensor is None else box_tensor.as_numpy(), len(payloads))
            batch = prepare_faces(payloads, self.prep, boxes, self.margin, self.output_format)
        except Exception as exc:  # this request fails alone
            failure = RequestFailure.of(exc)
            error = pb_utils.TritonError(failure.message, getattr(pb_utils.TritonError, failure.code))
            return pb_utils.InferenceResponse(output_tensors=[], error=error)
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(self.output_name, batch)])
