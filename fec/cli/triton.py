"""`fec-triton`: export folders -> a checked Triton model repository (image bytes in, embedding out)."""

from __future__ import annotations

from pathlib import Path

import click

from fec.cli.common import OutputPath, choice, quiet_option, user_errors
from fec.runtimes.triton_client import EMBEDDING_KINDS
from fec.triton.config import INSTANCE_KINDS
from fec.triton.options import DEFAULT_REPO, OPENVINO_PRECISIONS, TRT_PRECISIONS, RepositoryOptions

DEFAULTS = RepositoryOptions()

# What --embedding-backend took before 0.3 (Triton's backend names), still accepted.
OLD_EMBEDDING_NAMES = {"tensorrt": "trt", "onnxruntime": "onnx", "python-ort": "ort-python"}


@click.command(help="Package exports (fec-export folders) as a Triton model repository: preprocess + embedding "
                    "model + ensemble, every config checked against Triton's schema and the exported files.")
@click.argument("exports", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--repo", type=OutputPath(), default=DEFAULT_REPO, show_default=True, help="Repository folder to (re)write.")
@click.option("--name", default=DEFAULTS.name, show_default=True, help="Ensemble name; other models get suffixes.")
@click.option("--device", "--kind", "device", type=choice(INSTANCE_KINDS), default=DEFAULTS.device, show_default=True,
              help="Where the embedding model instances run (--kind is its old name).")
@click.option("--instances", type=int, default=DEFAULTS.instances, show_default=True, help="Instances of the embedding model.")
@click.option("--preprocess-instances", type=int, default=DEFAULTS.preprocess_instances,
              help="Instances of the preprocessing model (decode, crop, resize: CPU work) [default: one per core].")
@click.option("--max-batch", type=int, default=DEFAULTS.max_batch, show_default=True,
              help="max_batch_size (the TensorRT model's never exceeds its engine profile).")
@click.option("--max-queue-delay-us", type=int, default=DEFAULTS.max_queue_delay_us, show_default=True,
              help="Dynamic batching: longest wait for a fuller batch.")
@click.option("--queue-timeout", type=float, default=DEFAULTS.queue_timeout_s, show_default=True,
              help="Seconds a request may wait in a model's queue; later it is answered with an error (a client may "
                   "ask for a shorter one with its request's timeout).")
@click.option("--embedding", "--embedding-backend", "embedding",
              type=click.Choice([*EMBEDDING_KINDS, *OLD_EMBEDDING_NAMES]), default=None,
              callback=lambda ctx, param, value: OLD_EMBEDDING_NAMES.get(value, value),
              help="The embedding model the ensemble uses: trt (Triton's tensorrt backend), onnx (its onnxruntime "
                   "backend), openvino (its OpenVINO backend, CPU only; it cannot pin fp32, so CPUs with native bf16 run it "
                   "in bf16), ort-python (ONNX Runtime inside its python "
                   "backend: servers with only the python "
                   "backend, like the nvidia-pytriton wheel's) or ov-python (OpenVINO there, CPU only) "
                   "[default: trt when an engine is given, else onnx]. "
                   "The old names tensorrt, onnxruntime and python-ort still work.")
@click.option("--openvino-precision", type=choice(OPENVINO_PRECISIONS), default=DEFAULTS.openvino_precision,
              show_default=True,
              help="Inference precision of the openvino and ov-python kinds (bf16: CPUs with native bf16 only).")
@click.option("--trt-accelerator", is_flag=True, help="onnxruntime model on GPU through the TensorRT accelerator.")
@click.option("--trt-precision", type=choice(TRT_PRECISIONS), default=DEFAULTS.trt_precision, show_default=True)
@click.option("--trt-cache", default=DEFAULTS.trt_cache_path, show_default=True, help="TensorRT accelerator engine cache path.")
@click.option("--face-margin", type=float, default=DEFAULTS.face_margin,
              help="Grow a request's face box by this share of its size on each side "
                   "[default: the training margin recorded in the export].")
@click.option("--ort-threads", type=int, default=DEFAULTS.ort_threads, show_default=True,
              help="ONNX Runtime threads per ort-python instance (0: one per core).")
@click.option("--pin-cores/--no-pin-cores", default=DEFAULTS.pin_cores, show_default=True,
              help="With one CPU instance of the fused python model per core, each on a core of its own.")
@click.option("--photos", is_flag=True,
              help="Also write the photo model <name>_photo: one photo in (no box), every face's box, score, landmarks "
                   "and embedding out (MTCNN inside the server: needs facenet-pytorch in the server's Python).")
@click.option("--max-faces", type=int, default=DEFAULTS.max_faces, show_default=True,
              help="With --photos: embed a photo's best faces up to this many; the others are counted (left_out).")
@click.option("--photo-time-budget", type=float, default=DEFAULTS.photo_time_budget_s, show_default=True,
              help="With --photos: seconds of work one photo may take; a photo over it fails alone with its reason.")
@click.option("--box-convention", metavar="FILE|none",
              help="With --photos: crop detected faces by this box convention (fec-data fit-boxes) instead of the one "
                   "the export records; none: by the detector's boxes as they are.")
@click.option("--force", is_flag=True, help="Package an export whose recorded verification (fec-verify) failed.")
@quiet_option
@user_errors
def main(exports, repo, name, device, instances, preprocess_instances, max_batch, max_queue_delay_us, queue_timeout, embedding,
         openvino_precision, trt_accelerator, trt_precision, trt_cache, face_margin, ort_threads, pin_cores, photos, max_faces,
         photo_time_budget, box_convention, force, quiet):
    from dataclasses import replace

    from fec.detect.convention import chosen_convention
    from fec.triton.exports import read_exports
    from fec.triton.repository import write_repository

    options = RepositoryOptions(name=name, device=device, instances=instances, max_batch=max_batch,
                                max_queue_delay_us=max_queue_delay_us, queue_timeout_s=queue_timeout, embedding=embedding,
                                openvino_precision=openvino_precision,
                                trt_accelerator=trt_accelerator, trt_precision=trt_precision, trt_cache_path=trt_cache,
                                face_margin=face_margin, ort_threads=ort_threads, preprocess_instances=preprocess_instances,
                                pin_cores=pin_cores,
                                photos=photos, max_faces=max_faces, photo_time_budget_s=photo_time_budget).validate()
    if box_convention is not None and not photos:
        raise click.UsageError("--box-convention applies to the photo model: add --photos")
    export_set = read_exports(list(exports), force)
    export_set = replace(export_set, box_convention=chosen_convention(box_convention, export_set.box_convention))
    summary = write_repository(export_set, options, repo)
    if quiet:
        return
    click.echo(f"wrote {repo}/ ({len(summary.models)} models; ensemble {summary.ensemble} -> {summary.embedding_model})")
    for model, text in summary.models.items():
        click.echo(f"  {model:<24} {text}")
    for note in summary.notes:
        click.echo(f"note: {note}")
    click.echo(f"serve it: fec-serve --repo {repo}")


if __name__ == "__main__":
    main()
