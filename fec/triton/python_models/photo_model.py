"""Triton python backend: one encoded photo (no box) -> every face's box, score, landmarks and embedding.

Written by `fec-triton --photos`. Detection and alignment run here (fec.triton.photos.photo_faces, the
code `fec-embed --detect --checkpoint` runs); the faces are embedded by the repository's embedding model,
called through BLS (pb_utils.InferenceRequest), so that model keeps its dynamic batching across photos and
clients. The outputs' first axis is the number of faces (0 when there is none).

A bad photo (undecodable bytes, over the pixel cap, a wrong shape) gets an INVALID_ARG error of its own
(HTTP 400, gRPC INVALID_ARGUMENT); a failure of the embedding model is INTERNAL (500).
"""


import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        from fec.detect import DEFAULT_DETECTOR, create_detector
        from fec.triton.serving import FaceSettings, model_settings

        config, parameters = model_settings(args)
        self.faces = FaceSettings.from_parameters(parameters)
        self.embedding_model = parameters["embedding_model"]
        self.embedding_input, self.embedding_output = parameters["embedding_input"], parameters["embedding_output"]
        self.embedding_batch = int(parameters["embedding_max_batch"])
        self.dim = int(parameters["embedding_dim"])
        budget = float(parameters.get("time_budget_s", "0"))
        self.time_budget_s = budget if budget > 0 else None  # one photo's work; beyond it, the request fails alone
        threads = int(parameters.get("detector_threads", "0"))
        if threads:  # several instances share the cores: one thread each
            import torch

            torch.set_num_threads(threads)
        self.detector = create_detector(parameters.get("detector", DEFAULT_DETECTOR))

    def execute(self, requests):
        return [self.respond(request) for request in requests]

    def respond(self, request):
        from fec.triton.photos import embed_in_chunks, photo_faces, photo_outputs, photo_payload
        from fec.triton.serving import Deadline, RequestFailure, error_text, one_line

        try:
            payload = photo_payload(pb_utils.get_input_tensor_by_name(request, "image").as_numpy())
            photo = photo_faces(payload, self.detector, self.faces, deadline=Deadline(self.time_budget_s))
        except Exception as exc:  # this request fails alone
            return failed(RequestFailure.of(exc))
        try:
            embeddings = embed_in_chunks(self.embed, photo.batch, self.embedding_batch, self.dim)
        except Exception as exc:  # the inputs are ours: whatever the embedding model says is the server's fault
            return failed(RequestFailure(one_line(error_text(exc)), client_fault=False))
        outputs = photo_outputs(photo, embeddings)
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(name, array) for name, array in outputs.items()])

    def embed(self, batch):
        """The embedding model of the repository on one batch of faces, through BLS."""
        request = pb_utils.InferenceRequest(model_name=self.embedding_model, requested_output_names=[self.embedding_output],
                                            inputs=[pb_utils.Tensor(self.embedding_input, batch)])
        response = request.exec()
        if response.has_error():
            raise RuntimeError(f"{self.embedding_model}: {response.error().message()}")
        return pb_utils.get_output_tensor_by_name(response, self.embedding_output).as_numpy()


def failed(failure):
    error = pb_utils.TritonError(failure.message, getattr(pb_utils.TritonError, failure.code))
    return pb_utils.InferenceResponse(output_tensors=[], error=error)
