"""Triton python backend: the FECNet embedding model on a runner of fec.runtimes (ONNX Runtime for the
ort-python kind, OpenVINO for ov-python), for servers without those Triton backends (such as the
tritonserver in the nvidia-pytriton wheel).

Written by fec-triton. The requests the dynamic batcher hands over run as one batch.
A request that is empty, of the wrong shape or holds NaN/Inf values is refused alone (INVALID_ARG:
HTTP 400, gRPC INVALID_ARGUMENT) and never embedded; a failure of the runtime is INTERNAL (500).
"""

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        from fec.triton.serving import model_settings, runner_from_args

        config, parameters = model_settings(args)
        self.runner = runner_from_args(args, parameters)
        self.embed = self.runner.infer
        self.input_name = config["input"][0]["name"]
        self.sample_shape = tuple(int(size) for size in config["input"][0]["dims"])
        self.output_name = config["output"][0]["name"]

    def execute(self, requests):
        from fec.triton.serving import embed_requests

        batches = [pb_utils.get_input_tensor_by_name(request, self.input_name).as_numpy() for request in requests]
        return [self.response(result) for result in embed_requests(self.embed, batches, self.sample_shape)]

    def response(self, result):
        from fec.triton.serving import RequestFailure

        if isinstance(result, RequestFailure):
            error = pb_utils.TritonError(result.message, getattr(pb_utils.TritonError, result.code))
            return pb_utils.InferenceResponse(output_tensors=[], error=error)
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(self.output_name, result)])
