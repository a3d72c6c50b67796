"""bf16 numerics without a bf16 CPU: a checkpoint's held-out embeddings in PyTorch's CPU bf16 against fp32.

Where bf16 is not native, OpenVINO refuses it (fec-verify's `openvino-bf16`), so its accuracy cannot be
measured there; bf16's rounding can. Two emulations bracket what a native bf16 runtime computes:
- autocast: convolutions and matrix products take bf16 inputs and accumulate in fp32 (PyTorch's CPU autocast);
- all-bf16: every weight and activation in bf16, elementwise operations too.
For each it prints what fec-verify's bf16 tolerances judge (min cos 0.998, |delta| 0.5 pt): the worst cosine
against fp32, the accuracy change and the share of triplet decisions that flipped. Slow where bf16 is
emulated (ResNet18 at 128 px, 600 triplets: 17 min on 2 AVX2 cores).

    python benchmarks/bf16_numerics.py runs/demo/best.pt --data data/synth/test.csv --triplets 600
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from fec.data.dataset import FaceCrops, load_triplets, subset
from fec.errors import FecError
from fec.evaluate import embed_faces, score_embeddings
from fec.hardware import cpu_info, describe_cpu
from fec.models.checkpoint import model_from_checkpoint
from fec.preprocessing import normalize_uint8
from fec.verify import cosine


def embedder(model: torch.nn.Module, prep, mode: str):
    """uint8 NHWC faces -> unit embeddings, in fp32, under bf16 autocast, or with the whole model in bf16."""
    model = model.eval().to(torch.bfloat16 if mode == "all-bf16" else torch.float32)

    @torch.no_grad()
    def embed(faces: np.ndarray) -> np.ndarray:
        pixels = torch.from_numpy(normalize_uint8(faces, prep))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "autocast"):
            raw = model(pixels.to(torch.bfloat16) if mode == "all-bf16" else pixels)
        return torch.nn.functional.normalize(raw.float(), dim=1).numpy()

    return embed


def compare(checkpoint: Path, data: Path, triplets: int | None) -> dict:
    model, prep, payload = model_from_checkpoint(checkpoint)
    crops = FaceCrops.recorded(payload.get("config"), None)
    dataset = load_triplets(data, prep.input_size, None, crops.size, crops.margin).dataset
    if triplets is not None and triplets < len(dataset):
        dataset = subset(dataset, np.arange(triplets))
    reference = embed_faces(embedder(model, prep, "fp32"), dataset.faces, 64)
    scored = score_embeddings(reference, dataset)
    rows = {}
    for mode in ("autocast", "all-bf16"):
        embeddings = embed_faces(embedder(model, prep, mode), dataset.faces, 64)
        evaluation = score_embeddings(embeddings, dataset)
        rows[mode] = {"min_cos": float(cosine(embeddings, reference).min()),
                      "delta_pt": 100.0 * (evaluation.report["overall"].accuracy - scored.report["overall"].accuracy),
                      "flips": float(np.mean(evaluation.correct != scored.correct))}
    return {"checkpoint": str(checkpoint), "data": str(data), "triplets": len(dataset), "faces": len(dataset.faces),
            "fp32_accuracy": 100.0 * scored.report["overall"].accuracy, "cpu": describe_cpu(asdict(cpu_info())),
            "emulations": rows}


def table(result: dict) -> str:
    lines = [f"{result['checkpoint']}: {result['triplets']} triplets ({result['faces']} faces), fp32 "
             f"{result['fp32_accuracy']:.2f}%, on {result['cpu']}",
             "| emulation | min cos | accuracy change (pt) | flipped decisions |", "|---|---:|---:|---:|"]
    lines += [f"| {mode} | {row['min_cos']:.5f} | {row['delta_pt']:+.2f} | {100 * row['flips']:.2f}% |"
              for mode, row in result["emulations"].items()]
    return "\n".join(lines)


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive count")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, required=True, help="a triplet CSV (its faces/ store beside it)")
    parser.add_argument("--triplets", type=positive_int, default=None, help="only the first N triplets")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        result = compare(args.checkpoint, args.data, args.triplets)
    except FecError as error:  # a missing or foreign checkpoint, a bad CSV: one line
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
