"""fec-deploy --compress: students distilled from the checkpoint, so that a cheaper model can be a candidate.

Post-training quantization alone leaves a deployment near the int8 floor of the model it is given; fec owns the
training faces and the checkpoint, so it can change the model. A student is the same network at a smaller input
size, started from the teacher's weights and trained to reproduce the teacher's embeddings of the training faces
(1 - cosine, with horizontal flips; no labels are needed). At 0.75 of the input it costs about 0.56 of the
teacher's arithmetic. Each student becomes a source of exports that fec-deploy verifies against the ORIGINAL
checkpoint's held-out accuracy and times like every other candidate.

Measured before this was built (AMD EPYC Zen 3, AVX2, 2 cores, 2026-12-07, /tmp lab runs): a 96-px student of a
128-px ResNet18 (100 steps, 10 min) was 1.5-1.9x NNCF's default int8 on OpenVINO at batch 1 and 32, held-out
accuracy +0.7 to +2.2 points; a 48-px student of the 64-px demo model (300 steps, 3 min) +0.5 points.

Training stops at `max_steps` or when the time budget is spent, saves its state every `save_every` steps (a
killed run resumes from there) and writes the student as an fec checkpoint that records what it was distilled
from, how long and for how many steps.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from fec.data.dataset import FaceCrops, load_triplets
from fec.deploy.options import CompressOptions
from fec.errors import DeployError
from fec.export.manifest import sha256_file
from fec.io import make_folder
from fec.models.checkpoint import model_from_checkpoint, read_checkpoint, save_checkpoint
from fec.models.registry import create_model
from fec.preprocessing import normalize_tensor

STATE_NAME, STUDENT_NAME = "state.pt", "student.pt"


@dataclass
class Student:
    """A distilled student: its name among the candidates (s48), its checkpoint, and what its training cost."""

    name: str
    checkpoint: Path
    input_size: int
    steps: int
    seconds: float
    final_loss: float
    resumed_at: int = 0
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        resumed = f", resumed at step {self.resumed_at}" if self.resumed_at else ""
        return (f"{self.name}: {self.input_size} px, {self.steps} steps in {self.seconds:.0f} s{resumed}, "
                f"1 - cos {self.final_loss:.4f}")


def distil_students(teacher: Path, train_csv: Path, folder: Path, options: CompressOptions, progress: bool = False,
                    say=None) -> list[Student]:
    """Every student of `options`, made (or resumed, or reused when already made) under `folder`."""
    options.validate()
    model, prep, payload = model_from_checkpoint(teacher)
    sizes = options.student_sizes(prep.input_size)
    if not sizes:
        raise DeployError(f"--compress: no student size below the model's {prep.input_size} px")
    faces = TrainingFaces.load(train_csv, payload, prep.input_size, sizes, options)
    targets = teacher_targets(model, prep, faces.teacher_pixels)
    budget_each = options.budget_s / len(sizes)
    return [distil(teacher, payload, targets, faces.student_pixels[size], size, folder / f"s{size}", budget_each,
                   options, progress, say) for size in sizes]


@dataclass
class TrainingFaces:
    """The training faces (uint8 NCHW) at the teacher's size and at each student's."""

    teacher_pixels: torch.Tensor
    student_pixels: dict[int, torch.Tensor]

    @classmethod
    def load(cls, train_csv: Path, payload: dict, teacher_size: int, sizes: list[int], options: CompressOptions):
        crops = FaceCrops.recorded(payload.get("config"), source="checkpoint config")

        def pixels(size: int) -> torch.Tensor:
            faces = load_triplets(train_csv, size, None, crops.size, crops.margin, quiet=True).dataset.faces
            chosen = np.linspace(0, len(faces.cached) - 1, min(options.max_faces, len(faces.cached))).round()
            return torch.from_numpy(faces.cached[chosen.astype(np.int64)]).permute(0, 3, 1, 2).contiguous()

        return cls(pixels(teacher_size), {size: pixels(size) for size in sizes})


def teacher_targets(model: torch.nn.Module, prep, pixels: torch.Tensor) -> torch.Tensor:
    """(2, N, D): the teacher's embeddings of every face, as it is and flipped left to right."""
    model.eval()
    with torch.inference_mode():
        return torch.stack([torch.cat([model(normalize_tensor(batch.flip(-1) if flipped else batch, prep))
                                       for batch in pixels.split(256)]) for flipped in (False, True)])


def distil(teacher: Path, payload: dict, targets: torch.Tensor, pixels: torch.Tensor, size: int, folder: Path,
           budget_s: float, options: CompressOptions, progress: bool, say) -> Student:
    """One student trained (or resumed) until `options.max_steps` or `budget_s`, saved as an fec checkpoint."""
    make_folder(folder)
    teacher_sha = sha256_file(teacher)
    done = finished_student(folder / STUDENT_NAME, teacher_sha, size, options)
    if done is not None:
        return done
    student = student_model(payload, size)
    optimizer = torch.optim.AdamW(student.parameters(), lr=options.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warm_cosine(options.max_steps))
    generator = torch.Generator().manual_seed(options.seed)
    start, spent, losses = resume(folder / STATE_NAME, teacher_sha, size, student, optimizer, schedule, generator)
    began = time.monotonic() - spent
    step = start
    with tqdm(total=options.max_steps, initial=start, unit="step", desc=f"distil {size} px", disable=not progress) as bar:
        while step < options.max_steps and time.monotonic() - began < budget_s:
            losses.append(train_step(student, optimizer, schedule, generator, pixels, targets, options.batch_size))
            step += 1
            bar.update(1)
            if step % options.save_every == 0:
                save_state(folder / STATE_NAME, teacher_sha, size, step, time.monotonic() - began, losses, student,
                           optimizer, schedule, generator)
    seconds = time.monotonic() - began
    result = Student(f"s{size}", folder / STUDENT_NAME, size, step, seconds, float(np.mean(losses[-25:] or [math.nan])),
                     start)
    save_student(result, teacher, teacher_sha, payload, student, options)
    (folder / STATE_NAME).unlink(missing_ok=True)  # the student is whole: nothing left to resume
    if say:
        say(f"[compress] {result.describe()}")
    return result


def student_model(payload: dict, size: int) -> torch.nn.Module:
    """The teacher's network at `size` px, started from the teacher's weights."""
    config = dict(payload["model"])
    name = config.pop("name")
    student = create_model(name, **{**config, "input_size": size})
    student.load_state_dict(payload["state_dict"])
    return student.train()


def warm_cosine(steps: int):
    warm = max(1, steps // 20)
    return lambda step: (step + 1) / warm if step < warm else 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))


def train_step(student, optimizer, schedule, generator, pixels: torch.Tensor, targets: torch.Tensor, batch: int) -> float:
    """One step: a random batch, half of it flipped, pulled toward the teacher's embedding of the same face."""
    index = torch.randint(0, len(pixels), (batch,), generator=generator)
    flipped = torch.rand(batch, generator=generator) < 0.5
    faces = torch.where(flipped[:, None, None, None], pixels[index].flip(-1), pixels[index])
    embeddings = student(normalize_tensor(faces, student.preprocessing))
    loss = (1 - F.cosine_similarity(embeddings, targets[flipped.long(), index], dim=1)).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    schedule.step()
    return float(loss.detach())


def save_state(path: Path, teacher_sha: str, size: int, step: int, seconds: float, losses: list[float], student,
               optimizer, schedule, generator) -> None:
    """Everything a killed distillation resumes from, written atomically (an fec checkpoint: tensors and plain data)."""
    save_checkpoint(path, {"model": dict(student.config), "preprocessing": student.preprocessing.to_dict(),
                           "teacher_sha256": teacher_sha, "input_size": size,
                           "step": step, "seconds": seconds, "losses": losses[-25:], "state_dict": student.state_dict(),
                           "optimizer": optimizer.state_dict(), "scheduler": schedule.state_dict(),
                           "generator": generator.get_state()})


def resume(path: Path, teacher_sha: str, size: int, student, optimizer, schedule, generator) -> tuple[int, float, list]:
    """(step, seconds spent, recent losses) of a saved state of this very distillation, else a fresh start."""
    if not path.is_file():
        return 0, 0.0, []
    state = read_checkpoint(path)
    if state.get("teacher_sha256") != teacher_sha or state.get("input_size") != size:
        return 0, 0.0, []
    student.load_state_dict(state["state_dict"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
    return int(state["step"]), float(state["seconds"]), list(state["losses"])


def save_student(result: Student, teacher: Path, teacher_sha: str, payload: dict, student, options: CompressOptions) -> None:
    student.eval()
    kept = {key: payload[key] for key in ("config", "box_convention") if key in payload}
    save_checkpoint(result.checkpoint, {
        **kept, "model": dict(student.config), "preprocessing": student.preprocessing.to_dict(),
        "state_dict": {key: value.contiguous() for key, value in student.state_dict().items()},
        "distilled_from": {"checkpoint": str(teacher), "sha256": teacher_sha, "input_size": result.input_size,
                           "steps": result.steps, "max_steps": options.max_steps, "seconds": round(result.seconds, 1),
                           "final_loss": result.final_loss, "resumed_at": result.resumed_at}})


def finished_student(path: Path, teacher_sha: str, size: int, options: CompressOptions) -> Student | None:
    """A student this distillation already made in full (reused: a rerun costs nothing)."""
    if not path.is_file():
        return None
    record = read_checkpoint(path).get("distilled_from") or {}
    if record.get("sha256") != teacher_sha or record.get("input_size") != size or record.get("max_steps") != options.max_steps:
        return None
    return Student(f"s{size}", path, size, int(record["steps"]), float(record["seconds"]), float(record["final_loss"]),
                   int(record.get("resumed_at", 0)), ["reused"])
