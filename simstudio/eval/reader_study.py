""""Real or simulated?": a blind reading test of synthetic images, and its statistics.

A session (a run of kind "quiz") holds a fixed set of images drawn from one real set and one or more
synthetic sets (simulator, GAN or refined exports), balanced between real and synthetic and, within each
set, between its classes, in an order fixed by the seed. The images are copied into the run under numbers,
so the page that shows them (and the reader) never learns a file name, a path or a source. Each answer
(real / simulated, optionally the class and a confidence 1-5) is appended to the run's events.jsonl as it
is given, one fsync'ed line, so a session closed at any moment continues at the next unanswered image.

The report scores the reader against chance: accuracy with an exact (Clopper-Pearson) binomial 95 % CI and
the exact two-sided binomial p-value against 50 %, per source and per class; the synthetic images most
often taken for real and the real ones most often taken for simulated (by confidence); and the reader's
benign/malignant accuracy on real vs synthetic images. Published anchor: dermatologists told StyleGAN2
melanomas from real ones at 66.5 % (Lin et al. 2026).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simstudio.runs import Run, atomic_write_json, atomic_write_text, open_run

RUN_KIND = "quiz"
ANSWERS = ("real", "simulated")
CONFIDENCE = (1, 5)  # 1 = a guess, 5 = certain
DEFAULT_CONFIDENCE = 3  # what ranks an answer given without a confidence
CI_METHOD = "Clopper-Pearson (exact binomial)"
ANCHOR = ("Published anchor: dermatologists told StyleGAN2 melanomas from real ones at 66.5 % accuracy "
          "(Lin et al. 2026); 50 % is chance.")
MIN_SIZE, MAX_SIZE = 32, 1024
TOP_K = 5
UNLABELLED = "unlabelled"  # the class of uploaded images that came without class folders: never scored


@dataclass
class QuizConfig:
    real: str  # dataset run id or image folder (root/<class>/*)
    synthetic: list[str] = field(default_factory=list)  # "NAME=REF" or "REF": export folders or runs
    n_images: int = 40  # in all; half real, half synthetic (a choice: about 10 minutes of reading)
    size: int = 224  # side of the stored images (px); the reader's display size is chosen while reading
    seed: int = 0
    real_part: str = ""  # "" = every image; "train"/"val"/"test" = that part of a dataset's saved split
    ask_class: bool = True  # also ask benign / malignant (the classes of the sets)
    ask_confidence: bool = True
    temporary: list[str] = field(default_factory=list)  # refs that are uploads: deleted (and their decode
    #                                                     cache) once their images are copied into the run

    def validate(self) -> QuizConfig:
        if not str(self.real or "").strip():
            raise ValueError("no real set given: a dataset run id or an image folder")
        if not self.synthetic:
            raise ValueError("no synthetic set given: at least one simulator, GAN or refined export")
        if isinstance(self.synthetic, str):
            self.synthetic = [self.synthetic]
        n = self.n_images
        if not isinstance(n, int) or isinstance(n, bool) or n < 2 or n % 2:
            raise ValueError(f"n_images = {n!r}: expected an even whole number >= 2 (half real, half synthetic)")
        if not isinstance(self.size, int) or not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ValueError(f"size = {self.size!r}: expected a whole number in [{MIN_SIZE}, {MAX_SIZE}] px")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed = {self.seed!r}: expected a whole number >= 0")
        if self.real_part not in ("", "train", "val", "test"):
            raise ValueError(f"real_part = {self.real_part!r}: expected '', train, val or test")
        names = [name for name, _ in synthetic_sets(self.synthetic)]
        if len(set(names)) != len(names) or "real" in names:
            raise ValueError(f"synthetic set names must differ from each other and from 'real': {names}")
        return self


def synthetic_sets(specs: list[str]) -> list[tuple[str, str]]:
    """(name, ref) of each "NAME=REF" or "REF" (named after the folder or run)."""
    out = []
    for spec in specs:
        spec = str(spec).strip()
        if not spec:
            continue
        name, sep, ref = spec.partition("=")
        if not sep or Path(spec).exists():
            name, ref = "", spec
        ref = ref.strip()
        out.append((name.strip() or Path(ref.rstrip("/")).name or ref, ref))
    return out


def image_folder(ref: str) -> str:
    """A run that wrote images (a simulator/GAN/refined export) as the folder it wrote; anything else as it
    is (a dataset run id or an image folder, for `load_dataset`)."""
    ref = str(ref).strip()
    path = Path(ref).expanduser()
    if path.is_dir() and not (path / "meta.json").is_file():
        return ref
    try:
        run = open_run(ref)
    except FileNotFoundError:
        return ref
    if run.kind == "dataset":
        return run.id
    out = (run.result or {}).get("out")
    if out and Path(out).is_dir():
        return out
    raise ValueError(f"run {run.id} ({run.kind}) wrote no image folder to read a set from")


# -- making a session ----------------------------------------------------------------------------------

def create_quiz(config: QuizConfig | dict, ctx=None) -> dict:
    """Draw the images, copy them into the run under numbers, and save the order (a job function)."""
    from simstudio.data.dataset import load_dataset
    from simstudio.jobs import JobContext

    ctx = ctx or JobContext.local()
    config = _coerce(config).validate()
    if ctx.run_dir is None:
        raise ValueError("create_quiz runs inside a run (python -m simstudio quiz, or the Blind test tab)")
    rng = np.random.default_rng(config.seed)
    n_real = config.n_images // 2
    sets = synthetic_sets(config.synthetic)
    shares = [len(range(i, config.n_images - n_real, len(sets))) for i in range(len(sets))]
    sources = [("real", config.real, n_real)] + [(name, ref, k) for (name, ref), k in zip(sets, shares, strict=True)]
    items, pixels = [], []
    for s, (name, ref, want) in enumerate(sources):
        ctx.check_cancel()
        ctx.progress(s, len(sources), f"reading {'the real set' if name == 'real' else name}")
        ds = load_dataset(image_folder(ref), size=config.size, ctx=None)
        rows = np.arange(len(ds))
        if name == "real" and config.real_part:
            split = ds.saved_split()
            if split is None:
                raise ValueError(f"real_part = {config.real_part!r} needs an imported dataset with a saved split")
            rows = _part_rows(ds, split, config.real_part)
        picked = _balanced(rng, ds.labels[rows], want, name)
        for i in rows[picked]:
            items.append({"source": name, "truth": "real" if name == "real" else "simulated",
                          "class": ds.classes[int(ds.labels[i])], "origin": ds.files[int(i)]})
            pixels.append(np.array(ds.images[int(i)]))
        if ref in config.temporary:
            _forget(ref, ds)
    order = rng.permutation(len(items))
    folder = ctx.run_dir / "items"
    folder.mkdir(exist_ok=True)
    import cv2

    stored = []
    for pos, k in enumerate(order):
        item = {"item": pos, **items[int(k)]}
        ok, png = cv2.imencode(".png", cv2.cvtColor(pixels[int(k)], cv2.COLOR_RGB2BGR))
        if not ok:
            raise ValueError(f"could not encode image {pos}")
        (folder / f"{pos:05d}.png").write_bytes(png.tobytes())
        stored.append(item)
    atomic_write_json(ctx.run_dir / "items.json", stored)
    ctx.progress(len(sources), len(sources), "ready")
    counts = {name: sum(1 for it in stored if it["source"] == name) for name, _, _ in sources}
    classes = sorted({it["class"] for it in stored} - {UNLABELLED})
    return {"n_items": len(stored), "per_source": counts, "classes": classes, "size": config.size,
            "seed": config.seed, "ask_class": config.ask_class, "ask_confidence": config.ask_confidence}


def _forget(ref: str, ds) -> None:
    """An upload, once copied: its folder and the decode cache `load_dataset` made of it."""
    import shutil

    from simstudio.runs import runs_root

    cache = Path(getattr(ds.images, "filename", "") or "")
    store = (runs_root() / ".cache").resolve()
    if cache.is_file() and store in cache.resolve().parents:
        entry = cache.resolve()
        while entry.parent != store:
            entry = entry.parent
        shutil.rmtree(entry, ignore_errors=True)
    shutil.rmtree(ref, ignore_errors=True)
    with contextlib.suppress(OSError):
        Path(ref).parent.rmdir()  # the upload's own folder, once empty


def _balanced(rng: np.random.Generator, labels: np.ndarray, want: int, name: str) -> np.ndarray:
    """`want` row positions, as equal per class as the set allows, drawn without replacement."""
    if want > len(labels):
        raise ValueError(f"the {name} set has {len(labels)} images; the test needs {want} from it "
                         f"(ask for fewer images or add a larger set)")
    by_class = {c: rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)}
    quota = dict.fromkeys(by_class, 0)
    left = want
    while left:  # one at a time to the class furthest below its fair share that still has images
        open_classes = [c for c in by_class if quota[c] < len(by_class[c])]
        c = min(open_classes, key=lambda c: (quota[c], c))
        quota[c] += 1
        left -= 1
    return np.sort(np.concatenate([by_class[c][:quota[c]] for c in by_class]))


def _part_rows(ds, split, part: str) -> np.ndarray:
    rows = np.asarray(split.indices(part, ds), dtype=np.int64)
    if not len(rows):
        raise ValueError(f"the real dataset's split has no {part!r} images")
    return rows


def _coerce(config) -> QuizConfig:
    if isinstance(config, QuizConfig):
        return config
    known = QuizConfig.__dataclass_fields__
    return QuizConfig(**{k: v for k, v in dict(config).items() if k in known})


# -- answering -------------------------------------------------------------------------------------------

def quiz_items(run: Run | str) -> list[dict]:
    run = _open(run)
    items = run.read_json("items.json")
    if items is None:
        raise ValueError(f"{run.id} has no images yet ({run.status})"
                         + (f": {run.error.strip().splitlines()[-1]}" if run.error else ""))
    return items


def answers(run: Run | str) -> dict[int, dict]:
    """item -> its answer event (the last one when an item was answered twice)."""
    out = {}
    for ev in _open(run).events("answer"):
        out[int(ev["item"])] = ev
    return out


def next_item(run: Run | str) -> int | None:
    """The first unanswered image in the session's order, None when every image is answered."""
    run = _open(run)
    done = answers(run)
    for it in quiz_items(run):
        if it["item"] not in done:
            return int(it["item"])
    return None


def record_answer(run: Run | str, item: int, answer: str, class_answer: str = "",
                  confidence: int | None = None) -> dict:
    """Append one answer to the run's events (a whole line, fsync'ed: it survives a crash right after)."""
    run = _open(run)
    items = quiz_items(run)
    if not isinstance(item, (int, np.integer)) or not 0 <= int(item) < len(items):
        raise ValueError(f"item = {item!r}: expected 0 … {len(items) - 1}")
    if answer not in ANSWERS:
        raise ValueError(f"answer = {answer!r}: expected one of {', '.join(ANSWERS)}")
    classes = (run.result or {}).get("classes") or sorted({it["class"] for it in items} - {UNLABELLED})
    if class_answer and class_answer not in classes:
        raise ValueError(f"class = {class_answer!r}: expected one of {', '.join(classes)}")
    if confidence is not None:
        if isinstance(confidence, float) and confidence.is_integer():
            confidence = int(confidence)
        if not isinstance(confidence, (int, np.integer)) or not CONFIDENCE[0] <= confidence <= CONFIDENCE[1]:
            raise ValueError(f"confidence = {confidence!r}: expected a whole number {CONFIDENCE[0]} … {CONFIDENCE[1]}")
    event = {"t": round(time.time(), 3), "type": "answer", "item": int(item), "answer": answer,
             "class": class_answer or "", "confidence": None if confidence is None else int(confidence)}
    line = (json.dumps(event) + "\n").encode("utf-8")
    fd = os.open(run.path / "events.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one write of one line on an O_APPEND file: never interleaved with another
        os.fsync(fd)
    finally:
        os.close(fd)
    return event


def item_image(run: Run | str, item: int, display: int | None = None) -> np.ndarray:
    """The pixels of image `item` (RGB uint8), at `display` px when given (area-averaged when smaller,
    bicubic when larger: the same resampling for real and synthetic images)."""
    import cv2

    run = _open(run)
    data = (run.path / "items" / f"{int(item):05d}.png").read_bytes()
    img = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    if display:
        display = int(display)
        if not MIN_SIZE <= display <= MAX_SIZE:
            raise ValueError(f"display size = {display}: expected {MIN_SIZE} … {MAX_SIZE} px")
        if display != img.shape[0]:
            interp = cv2.INTER_AREA if display < img.shape[0] else cv2.INTER_CUBIC
            img = cv2.resize(img, (display, display), interpolation=interp)
    return img


# -- results ---------------------------------------------------------------------------------------------

def binomial_summary(k: int, n: int) -> dict:
    """k of n correct: accuracy, exact 95 % CI and the exact two-sided p-value against 50 %."""
    from scipy.stats import binomtest

    if n == 0:
        return {"correct": 0, "n": 0, "accuracy": None, "ci": [None, None], "p_vs_chance": None}
    test = binomtest(int(k), int(n), 0.5, alternative="two-sided")
    ci = test.proportion_ci(confidence_level=0.95, method="exact")
    return {"correct": int(k), "n": int(n), "accuracy": k / n, "ci": [float(ci.low), float(ci.high)],
            "p_vs_chance": float(test.pvalue)}


def answer_rows(run: Run | str) -> list[dict]:
    """One row per answered image, in the order shown (what the CSV holds)."""
    run = _open(run)
    done = answers(run)
    rows = []
    for it in quiz_items(run):
        ev = done.get(it["item"])
        if ev is None:
            continue
        cls = ev.get("class") or ""
        rows.append({
            "item": it["item"], "source": it["source"], "truth": it["truth"], "class": it["class"],
            "answer": ev["answer"], "correct": ev["answer"] == it["truth"], "class_answer": cls,
            "class_correct": (cls == it["class"]) if cls and it["class"] != UNLABELLED else "",
            "confidence": ev.get("confidence") or "",
            "answered_at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ev["t"])),
            "origin": it["origin"],
        })
    return rows


def quiz_report(run: Run | str) -> dict:
    """Everything the report shows, from the run's items and answer events."""
    run = _open(run)
    items = quiz_items(run)
    rows = answer_rows(run)

    def summary(sel):
        return binomial_summary(sum(r["correct"] for r in sel), len(sel))

    sources = list((run.result or {}).get("per_source") or dict.fromkeys(it["source"] for it in items))
    classes = sorted({it["class"] for it in items})
    by_source = {s: summary([r for r in rows if r["source"] == s]) for s in sources}
    by_class = {c: summary([r for r in rows if r["class"] == c]) for c in classes}

    def realness(r):  # how strongly the reader called it real: +confidence for real, -confidence else
        conf = r["confidence"] or DEFAULT_CONFIDENCE
        return conf if r["answer"] == "real" else -conf

    synth = sorted((r for r in rows if r["truth"] == "simulated"), key=lambda r: (-realness(r), r["item"]))
    real = sorted((r for r in rows if r["truth"] == "real"), key=lambda r: (realness(r), r["item"]))
    classed = [r for r in rows if r["class_correct"] != ""]
    class_acc = {truth: binomial_summary(sum(bool(r["class_correct"]) for r in sel), len(sel))
                 for truth in ("real", "simulated")
                 for sel in [[r for r in classed if r["truth"] == truth]]}
    return {
        "run": run.id, "n_items": len(items), "n_answered": len(rows), "finished": len(rows) == len(items),
        "ci_method": CI_METHOD, "test": "exact two-sided binomial test against 50 %",
        "overall": summary(rows), "by_source": by_source, "by_class": by_class,
        "most_convincing_synthetic": [_pick(r) for r in synth[:TOP_K]],
        "least_convincing_real": [_pick(r) for r in real[:TOP_K]],
        "class_accuracy": class_acc, "anchor": ANCHOR,
    }


def _pick(row: dict) -> dict:
    return {k: row[k] for k in ("item", "source", "class", "answer", "confidence", "origin")}


def write_report(run: Run | str) -> dict[str, Path]:
    """report.json and answers.csv in the run (both written atomically); their paths."""
    run = _open(run)
    report = quiz_report(run)
    paths = {"json": run.path / "report.json", "csv": run.path / "answers.csv"}
    atomic_write_json(paths["json"], report)
    atomic_write_text(paths["csv"], answers_csv(run))
    return paths


def answers_csv(run: Run | str) -> str:
    rows = answer_rows(run)
    fields = ["item", "source", "truth", "class", "answer", "correct", "class_answer", "class_correct",
              "confidence", "answered_at", "origin"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def format_report(report: dict) -> str:
    """The report as plain text (the CLI prints it; the tab shows it as Markdown)."""
    def line(name, s):
        if not s["n"]:
            return f"- {name}: no answers yet"
        return (f"- {name}: {s['correct']}/{s['n']} = {s['accuracy'] * 100:.1f} % "
                f"(95 % CI {s['ci'][0] * 100:.1f}–{s['ci'][1] * 100:.1f} %, p = {s['p_vs_chance']:.3g} vs 50 %)")

    out = [f"Blind test {report['run']}: {report['n_answered']} of {report['n_items']} images answered"
           + ("" if report["finished"] else " (unfinished)") + ".",
           f"Real or simulated, {report['ci_method']} CI, {report['test']}:", line("all images", report["overall"])]
    out += [line(f"{s} images" + (" (called real)" if s == "real" else " (called simulated)"), v)
            for s, v in report["by_source"].items()]
    out += [line(f"class {c}", v) for c, v in report["by_class"].items()]
    acc = report["class_accuracy"]
    if acc["real"]["n"] or acc["simulated"]["n"]:
        out.append("Class (benign / malignant) answers:")
        out += [line(f"on {t} images", acc[t]) for t in ("real", "simulated")]
    for key, title in (("most_convincing_synthetic", "Most convincing synthetic images"),
                       ("least_convincing_real", "Least convincing real images")):
        if report[key]:
            out.append(f"{title}: " + "; ".join(
                f"#{r['item']} {r['source']} {r['class']} called {r['answer']}"
                + (f" (confidence {r['confidence']})" if r["confidence"] else "") for r in report[key]))
    out.append(report["anchor"])
    return "\n".join(out)


def _open(run: Run | str) -> Run:
    return run if isinstance(run, Run) else open_run(run)
