"""Detected faces against the dataset's own boxes, on a dataset's test triplets: does a model score the same when
its faces come from a detector instead of the CSV's boxes?

    python benchmarks/detected_vs_box.py --checkpoint runs/demo/best.pt --data data/synth \\
        [--convention data/synth/box_convention.json] [--threads 1] [--json OUT.json]

Every distinct test face is embedded three ways:
  * box: the face store's crop of its CSV box, as fec-eval embeds it;
  * detected: MTCNN on the whole picture (the face whose box overlaps the CSV box most), levelled and cropped
    by the detector's box (`fec-embed --detect` without a box convention);
  * detected + convention: the same face cropped by its box moved onto the dataset's convention
    (`fec-data fit-boxes`), as `fec-embed --detect` and the photo model do for a model that records one.
The detected paths run `fec.triton.photos.photo_faces`, the code the served photo model runs. Printed: how many
faces were found, the cosine of each detected embedding to its box embedding (and, for scale, between
different faces), and the triplet accuracy of the triplets whose three faces were all found, per path.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fec.artifacts import UINT8_NHWC
from fec.data.dataset import FaceCrops, load_triplets
from fec.detect import create_detector, iou, pixel_box
from fec.detect.convention import BoxConvention, read_box_convention
from fec.evaluate import embed_faces, torch_embedder
from fec.metrics import correct_predictions, pair_distances
from fec.models.checkpoint import model_from_checkpoint
from fec.triton.photos import photo_faces
from fec.triton.serving import FaceSettings

MIN_IOU = 0.3  # a detected face this far off the CSV box is another face


def detected_pixels(face_refs, base_dir: Path, detector, settings: FaceSettings) -> tuple[np.ndarray, np.ndarray]:
    """(U, S, S, 3) uint8 detected crops in the order of `face_refs`, and which faces were found."""
    size = settings.prep.input_size
    pixels, found = np.zeros((len(face_refs), size, size, 3), np.uint8), np.zeros(len(face_refs), bool)
    for index, ref in enumerate(face_refs):
        path = base_dir / ref.url
        photo = photo_faces(path.read_bytes(), detector, settings, name=str(path))
        faces, batch = photo.faces, photo.batch
        with Image.open(path) as header:  # the size only: photo_faces has decoded the picture
            wanted = pixel_box(ref.box, header.size)
        overlaps = [iou(face.box, wanted) for face in faces]
        if overlaps and max(overlaps) >= MIN_IOU:
            pixels[index], found[index] = batch[int(np.argmax(overlaps))], True
    return pixels, found


def accuracy(embeddings: np.ndarray, face_index: np.ndarray, odd_index: np.ndarray) -> float:
    triplets = torch.from_numpy(embeddings[face_index])
    return float(correct_predictions(pair_distances(triplets), torch.from_numpy(odd_index)).float().mean())


def cosines(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    first = first / np.linalg.norm(first, axis=1, keepdims=True)
    second = second / np.linalg.norm(second, axis=1, keepdims=True)
    return (first * second).sum(axis=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (test.csv, faces/)")
    parser.add_argument("--convention", type=Path, help="default: the checkpoint's, else DATA/box_convention.json")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, prep, payload = model_from_checkpoint(args.checkpoint)
    crops = FaceCrops.recorded(payload.get("config"))
    convention = (read_box_convention(args.convention) if args.convention
                  else BoxConvention.recorded(payload, args.checkpoint) or read_box_convention(args.data / "box_convention.json"))
    embed = torch_embedder(model, prep)
    loaded = load_triplets(args.data / "test.csv", prep.input_size, args.data / "faces", crops.size, crops.margin, cache=False)
    dataset = loaded.dataset
    path_of = {path: ref for triplet, paths in zip(dataset.triplets, loaded.resolved.face_paths)
               for ref, path in zip(triplet.faces, paths)}
    refs = [path_of[path] for path in dataset.faces.paths]
    detector = create_detector("mtcnn")
    box = embed_faces(embed, dataset.faces)
    paths = {"box": (box, np.ones(len(refs), bool))}
    for name, rule in (("detected", None), ("detected + convention", convention)):
        pixels, found = detected_pixels(refs, args.data, detector, FaceSettings(prep, crops.margin, UINT8_NHWC, rule))
        paths[name] = (np.concatenate([embed(pixels[start:start + 256]) for start in range(0, len(pixels), 256)]), found)
    found = paths["detected"][1] & paths["detected + convention"][1]
    complete = found[dataset.face_index].all(axis=1)
    others = cosines(box[:-1], box[1:])
    result = {"checkpoint": str(args.checkpoint), "convention": convention.to_dict(), "faces": len(refs),
              "found": int(found.sum()), "triplets": len(dataset), "complete_triplets": int(complete.sum()),
              "cosine_between_different_faces": float(others.mean()), "paths": {}}
    for name, (embeddings, _) in paths.items():
        similarity = cosines(embeddings[found], box[found])
        result["paths"][name] = {
            "cosine_to_box": {"mean": float(similarity.mean()), "p05": float(np.quantile(similarity, 0.05))},
            "accuracy_complete": accuracy(embeddings, dataset.face_index[complete], dataset.odd_index[complete])}
    result["paths"]["box"]["accuracy_all"] = accuracy(box, dataset.face_index, dataset.odd_index)
    print(f"{result['found']} of {len(refs)} test faces found by MTCNN; {result['complete_triplets']} of {len(dataset)} "
          f"triplets with all three; different faces' cosine {statistics.fmean(others):.3f}")
    print(f"{'path':<24} {'cosine to box (mean, p05)':>26} {'accuracy (complete triplets)':>30}")
    for name, row in result["paths"].items():
        print(f"{name:<24} {row['cosine_to_box']['mean']:>17.3f} {row['cosine_to_box']['p05']:>8.3f} "
              f"{100 * row['accuracy_complete']:>29.2f}%")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
