"""Triton python backend: the FECNet embedding model on a runner of fec.runtimes (ONNX Runtime for the
ort-python kind, OpenVINO for ov-python), for servers without those Triton backends (such as the
tritonserver in the nvidia-pytriton wheel).

Written by fec-triton. The requests the dynamic batcher hands over run as one batch.
A request that is empty, of the wrong shape or holds NaN/Inf values is refused alone (INVALID_ARG:
HTTP 400, gRPC INVALID_ARGUMENT) and never embedded; a failure of the runtime is INTERNAL (500).
"""

import os

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        from fec.runtimes import create_runner
        from fec.triton.serving import model_settings

        config, parameters = model_settings(args)
        path = os.path.join(args["model_repository"], args["model_version"], parameters["onnx_file"])
        threads = int(parameters.get("intra_op_threads", "0"))
        runner = parameters.get("runner", "onnxruntime")
        options = {"threads": threads or None}
        if runner == "onnxruntime":  # on a GPU instance the CUDA provider, with no quiet fallback to the CPU
            on_gpu = args.get("model_instance_kind") == "GPU"
            options["provider"] = "cuda" if on_gpu else "cpu"
            if on_gpu:  # the GPU Triton gave this instance, not always GPU 0
                options["provider_options"] = {"device_id": int(args.get("model_instance_device_id", 0))}
        if "precision" in parameters:  # OpenVINO: fp32, or bf16 where the CPU does it natively
            options["precision"] = parameters["precision"]
        self.runner = create_runner(runner, model=path, **options)
        self.runner.activate()
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
