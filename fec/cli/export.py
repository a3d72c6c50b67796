"""`fec-export`: a checkpoint (or an fec fp32 ONNX file) to ONNX fp32/fp16/int8 or a TensorRT engine."""

from __future__ import annotations

from pathlib import Path

import click

from fec.cli.common import quiet_option, user_errors

FORMATS = ("onnx", "trt")  # fec.export.list_formats() without importing the export package at start-up


@click.command(help="Export a checkpoint to ONNX (fp32/fp16/int8) or a TensorRT engine, with a manifest.json. "
                    "SOURCE is a checkpoint (.pt) or an ONNX file fec-export wrote (to derive fp16/int8 or build an "
                    "engine from it without re-tracing).")
@click.argument("source", metavar="CHECKPOINT", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True, help="onnx, or trt (TensorRT engine).")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]),
              help="Default: fp32, or the precision of an ONNX SOURCE.")
@click.option("--max-batch", type=int, default=64, show_default=True, help="Largest batch (TensorRT profile max).")
@click.option("--opt-batch", type=int, default=16, show_default=True, help="Batch TensorRT tunes for.")
@click.option("--out", type=click.Path(path_type=Path), help="Export folder (default: export/<model>-<format>-<precision>).")
@click.option("--calib-data", type=click.Path(path_type=Path), help="INT8: FEC-format triplet CSV whose faces calibrate ranges.")
@click.option("--calib-size", type=int, default=256, show_default=True, help="INT8: number of distinct faces to calibrate on.")
@click.option("--target", type=click.Choice(["cpu", "tensorrt"]),
              help="INT8: where it will run (cpu: ONNX Runtime uint8 QDQ; tensorrt: symmetric Q/DQ). "
                   "Default: cpu for onnx, tensorrt for trt.")
@click.option("--quantizer", type=click.Choice(["modelopt", "onnxruntime"]), default="modelopt", show_default=True,
              help="INT8 for TensorRT: NVIDIA ModelOpt (optional extra) or ONNX Runtime in symmetric mode.")
@click.option("--float-below", type=int,
              help="INT8: keep convolutions with fewer channels than this (in or out) in float (default 48); 0 "
                   "quantizes every convolution. The embedding head always stays float.")
@click.option("--bake-preprocessing", is_flag=True, help="Graph takes uint8 RGB NHWC and normalises inside.")
@click.option("--opset", type=int, default=20, show_default=True)
@click.option("--exporter", type=click.Choice(["dynamo", "legacy"]), default="dynamo", show_default=True,
              help="torch.onnx exporter (legacy: TorchScript-based, deprecated; for models dynamo cannot trace).")
@click.option("--store", type=click.Path(path_type=Path), help="Face store for --calib-data (default: faces/ beside the CSV).")
@click.option("--face-size", type=int, help="Stored face size for --calib-data (default: the checkpoint's training value).")
@click.option("--workspace-mb", type=int, default=2048, show_default=True, help="TensorRT workspace limit.")
@click.option("--opt-level", type=int, default=3, show_default=True, help="TensorRT builder optimization level 0-5.")
@click.option("--hardware-compat", type=click.Choice(["none", "ampere+", "same-cc"]), default="none", show_default=True,
              help="TensorRT hardware compatibility (engines for other GPUs, slower).")
@click.option("--version-compat", is_flag=True, help="TensorRT version-compatible engine (later TensorRT of the same major).")
@click.option("--timing-cache", type=click.Path(path_type=Path),
              help="TensorRT timing cache file (default: per GPU under ~/.cache/fec).")
@click.option("--tf32", is_flag=True, help="Allow TF32 in fp32 TensorRT engines (faster, beyond fp32 tolerances).")
@quiet_option
@user_errors
def main(source, fmt, precision, max_batch, opt_batch, out, calib_data, calib_size, target, quantizer, float_below,
         bake_preprocessing,
         opset, exporter, store, face_size, workspace_mb, opt_level, hardware_compat, version_compat, timing_cache, tf32,
         quiet):
    from dataclasses import replace

    from fec.export import EngineOptions, ExportRequest, export_model

    engine = EngineOptions(workspace_mb, opt_level, hardware_compat, version_compat, timing_cache, tf32)
    request = ExportRequest(precision, max_batch, opt_batch, target, calib_data, calib_size, quantizer, bake_preprocessing,
                            opset, exporter, store, face_size, engine)
    if float_below is not None:
        request = replace(request, float_below=float_below)
    result = export_model(source, fmt, request, out)
    if not quiet:
        click.echo(result.summary())
        click.echo(f"verify it: fec-verify {result.folder} --data TEST.csv")


if __name__ == "__main__":
    main()
