"""Learning curves of several fec-train recipes on one dataset: held-out accuracy against steps.

    python benchmarks/learning_curves.py --data data/synth --config fec/configs/demo_cpu.yaml --out runs/seeds \\
        --parallel 2 --threads 1 "s0: seed=0" "s1: seed=1"
    python benchmarks/learning_curves.py --data data/synth12k --out runs/curves --parallel 4 \\
        --device cuda --set max_steps=1200 --set eval_every=100 \\
        "compact: model=compact_cnn lr=0.001" "mnet: model=mobilenet_v3_small lr=0.001"

Each recipe is `NAME: key=value ...` (fec-train config keys, on top of the shared --set values).
Every recipe runs as its own `fec-train` process (at most --parallel at once) into OUT/NAME; the
validation accuracy it logs every `eval_every` steps becomes one column of the table, and the test
accuracy of its best checkpoint the last row. Below them: the embedding spread at the first validation,
how many validations fell under the collapse threshold (fec-train's warning), and the kernels each run
recorded (machine.jsonl). The table goes to stdout and OUT/curves.md, the numbers to OUT/curves.json.

--kernels holds every run to one kernel family: `avx2` (ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2,
what an AVX2-only CPU runs, also on an AVX-512 one), `sse41` (scalar ATen, oneDNN SSE4.1: a third family,
other summation orders again) or `native` (the default: what the CPU picks). The same seed takes another
trajectory on every family; a recipe that trains only on one is not robust.

Steps, not seconds, are what transfers between machines: a recipe's accuracy after N steps on a GPU is
what the same N steps give on a CPU (same seed, same batches), up to the kernels' summation order.
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

from fec.metrics import COLLAPSED_SPREAD  # under it, fec-train warns of a collapse

# Environment variables that hold PyTorch (ATen) and oneDNN to one kernel family; None: the CPU's own choice.
KERNELS = {
    "native": {"ATEN_CPU_CAPABILITY": None, "ONEDNN_MAX_CPU_ISA": None},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "sse41": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}


def run_environment(kernels: str, threads: int | None) -> dict[str, str]:
    """This process's environment with the kernel family's variables set (or removed) and the threads."""
    environment = dict(os.environ)
    for name, value in KERNELS[kernels].items():
        environment.pop(name, None)
        if value is not None:
            environment[name] = value
    if threads:
        environment["OMP_NUM_THREADS"] = str(threads)
    return environment


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
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=run_environment(args.kernels, args.threads))
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        return {"name": name, "error": (result.stderr.strip().splitlines() or ["?"])[-1], "seconds": seconds}
    return {"name": name, "settings": settings, "seconds": seconds, **read_run(run_dir)}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def read_run(run_dir: Path) -> dict:
    rows = [row for row in read_jsonl(run_dir / "metrics.jsonl") if row.get("split") == "val"]
    spreads = [row["embedding_spread"] for row in rows if "embedding_spread" in row]
    test = json.loads((run_dir / "test_metrics.json").read_text())
    starts = read_jsonl(run_dir / "machine.jsonl")
    return {"val": {row["step"]: row["overall"] for row in rows}, "test": {key: value["accuracy"] for key, value in test.items()},
            "first_spread": spreads[0] if spreads else None,
            "collapse_warnings": sum(row.get("collapse_warning", row.get("embedding_spread", 2.0) < COLLAPSED_SPREAD)
                                     for row in rows),  # runs before fec 0.4 recorded the spread alone
            "kernels": starts[0] if starts else None}


def kernel_cell(run: dict) -> str:
    kernels = run.get("kernels")
    if not kernels:
        return "?"
    cpu = kernels["cpu"]
    amp = kernels.get("amp", {}).get("dtype", "fp32")  # runs from before amp was recorded trained in fp32 on CPUs
    return f"ATen {cpu['aten_capability']}, oneDNN {cpu['onednn_max_isa']}, {kernels['threads']} thr, {amp}"


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
    lines.append("| spread at first validation | " + " | ".join(
        "" if r["first_spread"] is None else f"{r['first_spread']:.2f}" for r in done) + " |")
    lines.append("| collapse warnings | " + " | ".join(str(r["collapse_warnings"]) for r in done) + " |")
    lines.append("| kernels | " + " | ".join(kernel_cell(r) for r in done) + " |")
    lines.append("| wall s | " + " | ".join(f"{r['seconds']:.0f}" for r in done) + " |")
    lines += [f"{r['name']}: FAILED: {r['error']}" for r in results if "error" in r]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="+", help="'NAME: key=value ...'")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--config", type=Path, help="fec-train config file shared by every recipe (under --set)")
    parser.add_argument("--set", action="append", default=[], help="key=value shared by every recipe")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS of each run")
    parser.add_argument("--kernels", choices=sorted(KERNELS), default="native",
                        help="hold every run to one kernel family (see above)")
    args = parser.parse_args(argv)
    recipes = [parse_recipe(text) for text in args.recipes]
    with ThreadPoolExecutor(args.parallel) as pool:
        results = list(pool.map(lambda recipe: train(*recipe, args), recipes))
    args.out.mkdir(parents=True, exist_ok=True)
    text = table(results)
    (args.out / "curves.md").write_text(text + "\n")
    summary = {"shared": args.set, "config": str(args.config or ""), "kernels": args.kernels, "runs": results}
    (args.out / "curves.json").write_text(json.dumps(summary, indent=1))
    print(text)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
