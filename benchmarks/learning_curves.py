"""Learning curves of several fec-train recipes on one dataset: held-out accuracy against steps.

    python benchmarks/learning_curves.py --data data/synth --config fec/configs/demo_cpu.yaml --out runs/seeds \\
        --parallel 2 --threads 1 "s0: seed=0" "s1: seed=1"
    python benchmarks/learning_curves.py --data data/synth12k --out runs/curves --parallel 4 \\
        --device cuda --set max_steps=1200 --set eval_every=100 \\
        "compact: model=compact_cnn lr=0.001" "mnet: model=mobilenet_v3_small lr=0.001"

Each recipe is `NAME: key=value ...` (fec-train config keys, on top of the shared --set values).
Every recipe runs as its own `fec-train` process (at most --parallel at once) into OUT/NAME; the
validation accuracy it logs every `eval_every` steps becomes one column of the table, and the test
accuracy of its best checkpoint the last row. The table goes to stdout and OUT/curves.md, the
numbers to OUT/curves.json. Steps, not seconds, are what transfers between machines: a recipe's
accuracy after N steps on a GPU is what the same N steps give on a CPU (same seed, same batches).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def parse_recipe(text: str) -> tuple[str, list[str]]:
    name, sep, settings = text.partition(":")
    if not sep or not name.strip():
        raise SystemExit(f"recipe {text!r}: expected 'NAME: key=value ...'")
    return name.strip(), settings.split()


def train(name: str, settings: list[str], args: argparse.Namespace) -> dict:
    run_dir = args.out / name
    command = [sys.executable, "-m", "fec.cli.train", "--data", str(args.data), "--out", str(run_dir),
               "--device", args.device, "--quiet"]
    if args.config:
        command += ["--config", str(args.config)]
    for setting in [*args.set, *settings]:
        command += ["--set", setting]
    environment = {**os.environ, "OMP_NUM_THREADS": str(args.threads)} if args.threads else None
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        return {"name": name, "error": (result.stderr.strip().splitlines() or ["?"])[-1], "seconds": seconds}
    return {"name": name, "settings": settings, "seconds": seconds, **read_run(run_dir)}


def read_run(run_dir: Path) -> dict:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    val = {row["step"]: row["overall"] for row in rows if row.get("split") == "val"}
    test = json.loads((run_dir / "test_metrics.json").read_text())
    return {"val": val, "test": {key: value["accuracy"] for key, value in test.items()}}


def table(results: list[dict]) -> str:
    done = [r for r in results if "val" in r]
    steps = sorted({step for r in done for step in r["val"]})
    lines = ["| step | " + " | ".join(r["name"] for r in done) + " |",
             "|---:|" + "---:|" * len(done)]
    for step in steps:
        cells = [f"{100 * r['val'][step]:.1f}" if step in r["val"] else "" for r in done]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    lines.append("| test (best) | " + " | ".join(f"**{100 * r['test']['overall']:.1f}**" for r in done) + " |")
    for kind in ("ONE_CLASS_TRIPLET", "TWO_CLASS_TRIPLET", "THREE_CLASS_TRIPLET"):
        lines.append(f"| test {kind.split('_')[0]} | " + " | ".join(f"{100 * r['test'][kind]:.1f}" for r in done) + " |")
    lines.append("| wall s | " + " | ".join(f"{r['seconds']:.0f}" for r in done) + " |")
    lines += [f"{r['name']}: FAILED: {r['error']}" for r in results if "error" in r]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="+", help="'NAME: key=value ...'")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--config", type=Path, help="fec-train config file shared by every recipe (under --set)")
    parser.add_argument("--set", action="append", default=[], help="key=value shared by every recipe")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS of each run")
    args = parser.parse_args()
    recipes = [parse_recipe(text) for text in args.recipes]
    with ThreadPoolExecutor(args.parallel) as pool:
        results = list(pool.map(lambda recipe: train(*recipe, args), recipes))
    args.out.mkdir(parents=True, exist_ok=True)
    text = table(results)
    (args.out / "curves.md").write_text(text + "\n")
    (args.out / "curves.json").write_text(json.dumps({"shared": args.set, "runs": results}, indent=1))
    print(text)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
