"""What the early plateau is made of: two measurements behind benchmarks/FIGURES.md, "The early plateau".

    python benchmarks/plateau_probe.py init  --data data/synth --model compact_cnn [--standardize-input]
    python benchmarks/plateau_probe.py trace --data data/synth --config fec/configs/demo_cpu.yaml \\
        --steps 600 --every 20 [--set key=value ...]

`init`: for 2000 training faces of a synthetic dataset, how much of a freshly initialised network's
(pre-normalisation) embedding a linear fit explains from the face's expression (the six ground-truth
axes in expressions.csv) and from the picture's colour statistics (per-channel mean and standard
deviation of the crop: light, skin tone, background). A random network that mostly encodes colour
gives the triplet loss nothing to sort by.

`trace`: a real fec-train run (same code, same batches) that also records, every N steps, the
training batch's loss, the spread of its unit embeddings (mean squared pair distance: 2 for random
unit vectors, 0 when collapsed), the ratio of the batch's common embedding component to its varying
part before the L2 normalisation, and gradient norms of the trunk and head. JSON lines on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from fec.data.fec_csv import read_triplets
from fec.data.synth import read_expressions
from fec.models import create_model
from fec.preprocessing import open_image, resize_uint8
from fec.train.config import load_config, parse_overrides
from fec.train.trainer import Trainer


def explained_variance(targets: np.ndarray, features: np.ndarray) -> float:
    """R^2 of the best linear fit of `targets` (N, D) from `features` (N, F), summed over D."""
    design = np.hstack([features, np.ones((len(features), 1))])
    coefficients, *_ = np.linalg.lstsq(design, targets, rcond=None)
    residual = targets - design @ coefficients
    return float(1 - residual.var(axis=0).sum() / targets.var(axis=0).sum())


def sample_faces(data: Path, count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 crops (N, size, size, 3), expression vectors (N, 6)) of distinct training faces."""
    expressions = read_expressions(data / "expressions.csv")
    faces = {face.url: face for triplet in read_triplets(data / "train.csv").triplets for face in triplet.faces}
    chosen = np.random.default_rng(seed).permutation(sorted(faces))[:count]
    crops, vectors = [], []
    for url in chosen:
        picture = open_image(data / url)
        box = faces[url].box
        width, height = picture.size
        crop = picture.crop((box.left * width, box.top * height, box.right * width, box.bottom * height))
        crops.append(resize_uint8(crop, size))
        vectors.append(expressions[url])
    return np.stack(crops), np.stack(vectors)


def probe_init(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    model = create_model(args.model, standardize_input=args.standardize_input)
    prep = model.preprocessing
    crops, expressions = sample_faces(args.data, args.faces, prep.input_size, args.seed)
    pixels = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255
    inputs = (pixels - torch.tensor(prep.mean).view(1, 3, 1, 1)) / torch.tensor(prep.std).view(1, 3, 1, 1)
    captured = {}
    model.head.fc.register_forward_hook(lambda module, given, output: captured.__setitem__("pre_norm", output))
    model.train()  # batch statistics, as in the first training steps
    with torch.no_grad():
        for start in range(0, len(inputs), 250):
            model(inputs[start:start + 250])
            captured.setdefault("all", []).append(captured["pre_norm"])
    embeddings = torch.cat(captured["all"]).numpy()
    colour = np.hstack([pixels.mean(dim=(2, 3)).numpy(), pixels.std(dim=(2, 3)).numpy()])
    return {"model": args.model, "standardize_input": args.standardize_input, "faces": len(crops),
            "r2_from_expression": round(explained_variance(embeddings, expressions), 3),
            "r2_from_colour": round(explained_variance(embeddings, colour), 3)}


class TracingTrainer(Trainer):
    """fec-train's Trainer, recording the training batch's embedding geometry every `every` steps."""

    every = 20

    def _build(self) -> None:
        super()._build()
        self.pre_norm = None
        self.model.head.fc.register_forward_hook(lambda module, given, output: setattr(self, "pre_norm", output.detach()))

    def train_step(self, batch: dict) -> float:
        loss = super().train_step(batch)
        if self.step % self.every == 0:
            print(json.dumps({"step": self.step, "loss": round(loss, 4), **self.geometry(), **self.gradient_norms()}),
                  flush=True)
        return loss

    def geometry(self) -> dict:
        pre_norm = self.pre_norm.float()
        unit = torch.nn.functional.normalize(pre_norm, dim=1)
        common = pre_norm.mean(dim=0)
        varying = (pre_norm - common).pow(2).sum(dim=1).mean()
        return {"spread": round(float(torch.cdist(unit, unit).pow(2).mean()), 4),
                "common_over_varying": round(float(common.pow(2).sum() / varying.clamp_min(1e-12)), 3)}

    def gradient_norms(self) -> dict:
        squares = {"trunk": 0.0, "head": 0.0}
        for name, parameter in self.model.named_parameters():
            if parameter.grad is not None:
                squares["trunk" if name.startswith("trunk") else "head"] += float(parameter.grad.pow(2).sum())
        return {f"grad_{part}": round(value ** 0.5, 5) for part, value in squares.items()}


def probe_trace(args: argparse.Namespace) -> dict:
    TracingTrainer.every = args.every
    overrides = {"data": str(args.data), **parse_overrides(tuple(args.set))}
    config = load_config(args.config, overrides)
    results = TracingTrainer(config, args.out, quiet=True).fit(stop_at=args.steps)
    return {"step": results["step"], "test": results.get("test", {}).get("overall")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["init", "trace"])
    parser.add_argument("--data", type=Path, required=True, help="a synthetic dataset folder (fec-data synth)")
    parser.add_argument("--model", default="compact_cnn")
    parser.add_argument("--standardize-input", action="store_true", help="init: per-image standardisation first")
    parser.add_argument("--faces", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, help="trace: a fec-train config file")
    parser.add_argument("--set", action="append", default=[], help="trace: a fec-train key=value override")
    parser.add_argument("--steps", type=int, default=600, help="trace: stop after this many steps")
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("runs/plateau-trace"))
    args = parser.parse_args(argv)
    print(json.dumps(probe_init(args) if args.mode == "init" else probe_trace(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
