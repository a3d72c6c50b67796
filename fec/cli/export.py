"""`fec-export`: a checkpoint (or an fec fp32 ONNX file) to ONNX fp32/fp16/int8 or a TensorRT engine."""

from __future__ import annotations

from pathlib import Path

import click

from fec.cli.common import OutputPath, choice, quiet_option, user_errors
from fec.data.face_store import MAX_FACE_SIZE
from fec.export.registry import (
    EXPORT_PRECISIONS,
    EXPORTERS,
    HARDWARE_COMPATIBILITY,
    INT8_TARGETS,
    QUANTIZERS,
    EngineOptions,
    ExportRequest,
    list_formats,
)
from fec.preprocessing import MIN_INPUT_SIZE

REQUEST, ENGINE = ExportRequest(), EngineOptions()  # the library's defaults, shown by --help


@click.command(help="Export a checkpoint to ONNX (fp32/fp16/int8) or a TensorRT engine, with a manifest.json. "
                    "SOURCE is a checkpoint (.pt) or an ONNX file fec-export wrote (to derive fp16/int8 or build an "
                    "engine from it without re-tracing).")
@click.argument("source", metavar="CHECKPOINT", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(list_formats()), required=True,
              help="onnx, or trt (ONNX plus a TensorRT engine built from it).")
@click.option("--precision", type=choice(EXPORT_PRECISIONS),
              help="Default: fp32, or the precision of an ONNX SOURCE.")
@click.option("--max-batch", type=int, default=REQUEST.max_batch, show_default=True, help="Largest batch (TensorRT profile max).")
@click.option("--opt-batch", type=int, default=REQUEST.opt_batch, show_default=True, help="Batch TensorRT tunes for.")
@click.option("--out", type=OutputPath(), help="Export folder (default: export/<model>-<format>-<precision>).")
@click.option("--calib-data", type=click.Path(path_type=Path), help="INT8: FEC-format triplet CSV whose faces calibrate ranges.")
@click.option("--calib-size", type=int, default=REQUEST.calib_size, show_default=True,
              help="INT8: number of distinct faces to calibrate on.")
@click.option("--target", type=click.Choice(INT8_TARGETS),
              help="INT8: where it will run (cpu: ONNX Runtime uint8 QDQ; tensorrt: symmetric Q/DQ). "
                   "Default: cpu for onnx, tensorrt for trt.")
@click.option("--quantizer", type=click.Choice(QUANTIZERS), default=REQUEST.quantizer, show_default=True,
              help="INT8 for TensorRT: NVIDIA ModelOpt (optional extra) or ONNX Runtime in symmetric mode. INT8 for "
                   "CPUs: ONNX Runtime's, or NNCF's (nncf: with fec's float islands; nncf-default: as OpenVINO users "
                   "call it; nncf-accuracy: NNCF's accuracy control on triplet accuracy, within --max-drop).")
@click.option("--max-drop", type=float, default=REQUEST.max_drop, show_default=True,
              help="INT8 with --quantizer nncf-accuracy: triplet accuracy points it may lose on triplets of "
                   "--calib-data.")
@click.option("--float-below", type=int,
              help=f"INT8: keep convolutions with fewer channels than this (in or out) in float "
                   f"(default {REQUEST.float_below}); 0 "
                   "quantizes every convolution. The embedding head always stays float.")
@click.option("--bake-preprocessing", is_flag=True, help="Graph takes uint8 RGB NHWC and normalises inside.")
@click.option("--opset", type=int, default=REQUEST.opset, show_default=True)
@click.option("--exporter", type=click.Choice(EXPORTERS), default=REQUEST.exporter, show_default=True,
              help="torch.onnx exporter (legacy: TorchScript-based, deprecated; for models dynamo cannot trace).")
@click.option("--store", type=OutputPath(), help="Face store for --calib-data (default: faces/ beside the CSV).")
@click.option("--face-size", type=click.IntRange(MIN_INPUT_SIZE, MAX_FACE_SIZE),
              help="Stored face size for --calib-data (default: the checkpoint's training value).")
@click.option("--workspace-mb", type=int, default=ENGINE.workspace_mb, show_default=True, help="TensorRT workspace limit.")
@click.option("--opt-level", type=int, default=ENGINE.optimization_level, show_default=True,
              help="TensorRT builder optimization level 0-5.")
@click.option("--hardware-compat", type=click.Choice(HARDWARE_COMPATIBILITY),
              default=ENGINE.hardware_compatibility, show_default=True,
              help="TensorRT hardware compatibility (engines for other GPUs, slower).")
@click.option("--version-compat", is_flag=True, help="TensorRT version-compatible engine (later TensorRT of the same major).")
@click.option("--timing-cache", type=OutputPath(),
              help="TensorRT timing cache file (default: per GPU under ~/.cache/fec).")
@click.option("--tf32", is_flag=True, help="Allow TF32 in fp32 TensorRT engines (faster, beyond fp32 tolerances).")
@quiet_option
@user_errors
def main(source, fmt, precision, max_batch, opt_batch, out, calib_data, calib_size, target, quantizer, max_drop,
         float_below, bake_preprocessing,
         opset, exporter, store, face_size, workspace_mb, opt_level, hardware_compat, version_compat, timing_cache, tf32,
         quiet):
    from fec.export import export_model

    engine = EngineOptions(workspace_mb=workspace_mb, optimization_level=opt_level, hardware_compatibility=hardware_compat,
                           version_compatible=version_compat, timing_cache=timing_cache, tf32=tf32)
    request = ExportRequest(precision=precision, max_batch=max_batch, opt_batch=opt_batch, target=target,
                            calib_data=calib_data, calib_size=calib_size, quantizer=quantizer,
                            bake_preprocessing=bake_preprocessing, opset=opset, exporter=exporter, store=store,
                            face_size=face_size, engine=engine,
                            float_below=REQUEST.float_below if float_below is None else float_below, max_drop=max_drop)
    result = export_model(source, fmt, request, out)
    if not quiet:
        click.echo(result.summary())
        click.echo(f"verify it: fec-verify {result.folder} --data TEST.csv")


if __name__ == "__main__":
    main()
