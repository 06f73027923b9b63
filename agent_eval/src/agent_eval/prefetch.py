"""Downloading the evaluation data of tasks into the data folder, for offline evaluation.

What to fetch is declared by the metrics themselves (``@metric(..., data=...)``), so adding a
metric never means editing this module. The only module that goes online; everything else
reads the data folder (:mod:`agent_eval.datasets`).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import uuid
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from agent_eval.datasets import (
    CODE_IMAGES_FOLDER,
    DATA_DIR_ENV,
    IMAGE_ID_COLUMN,
    MMLU_SUBJECTS,
    SUPERGLUE_CONFIGS,
    DataNeed,
    code_inputs_manifest_key,
    code_inputs_path,
    hf_manifest_key,
    hf_split_path,
    online,
    record_fetched,
    write_jsonl,
)
from agent_eval.errors import DatasetFormatError
from agent_eval.lm_eval_tasks import blimp_phenomena


def needs(spec: Any) -> list[DataNeed]:
    """What a task spec's metrics read from the data folder, each once, as they declare it."""
    from agent_eval.metrics.registry import available

    registered = available()
    wanted: list[DataNeed] = []
    for mspec in spec.metrics:
        metric = registered.get(mspec.name)
        if metric is None or metric.data is None:
            continue
        for item in metric.data(spec, mspec):
            if item not in wanted:
                wanted.append(item)
    return wanted


def _plain_rows(ds: Any) -> Iterator[dict[str, Any]]:
    """Rows of a ``datasets`` split without image or audio columns (labels only)."""
    from datasets import Audio, Image

    keep = [n for n, f in ds.features.items() if not isinstance(f, Image | Audio)]
    for row in ds.select_columns(keep):
        yield dict(row)


def hub_commit(dataset_id: str, revision: str | None) -> str | None:
    """The commit a Hub dataset's revision (default: its main branch) resolves to, if known."""
    try:
        from huggingface_hub import HfApi

        sha = HfApi().dataset_info(dataset_id, revision=revision).sha
    except Exception:  # best effort: any failure leaves the commit unrecorded
        return revision
    return str(sha) if sha else revision


def _source(kind: str) -> Any:
    from agent_eval.provenance import BUILTIN_SOURCES

    return BUILTIN_SOURCES[kind]


def fetch_wikitext2(root: Path) -> None:
    """wikitext-2-raw-v1 test, joined with blank lines as is customary for perplexity."""
    from datasets import load_dataset

    src = _source("wikitext2")
    ds = load_dataset(src.id, src.config, split="test", revision=src.revision)
    path = root / "wikitext2" / "test.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(ds["text"]), encoding="utf-8")
    record_fetched(
        root,
        "wikitext2",
        {
            "source": "wikitext/wikitext-2-raw-v1",
            "split": "test",
            "rows": len(ds),
            "revision": hub_commit(src.id, src.revision),
        },
    )


def fetch_mmlu(root: Path, subjects: Iterable[str] = MMLU_SUBJECTS) -> None:
    """cais/mmlu, one folder per subject with its dev (few-shot) and test splits."""
    from datasets import load_dataset

    src = _source("mmlu")
    counts = {}
    for subject in subjects:
        for split in ("dev", "test"):
            ds = load_dataset(src.id, subject, split=split, revision=src.revision)
            counts[f"{subject}/{split}"] = write_jsonl(
                root / "mmlu" / subject / f"{split}.jsonl", _plain_rows(ds)
            )
    revision = hub_commit(src.id, src.revision)
    record_fetched(root, "mmlu", {"source": src.id, "rows": counts, "revision": revision})


def fetch_blimp(root: Path) -> None:
    """nyu-mll/blimp, one file per phenomenon (lm-eval's configurations)."""
    from datasets import load_dataset

    src = _source("blimp")
    counts = {}
    for name in blimp_phenomena():
        ds = load_dataset(src.id, name, split="train", revision=src.revision)
        counts[name] = write_jsonl(root / "blimp" / f"{name}.jsonl", _plain_rows(ds))
    revision = hub_commit(src.id, src.revision)
    record_fetched(root, "blimp", {"source": src.id, "rows": counts, "revision": revision})


def fetch_superglue(root: Path) -> None:
    """aps/super_glue train (few-shot) and validation (scored) splits of lm-eval's tasks."""
    from datasets import load_dataset

    src = _source("superglue")
    counts = {}
    for config in SUPERGLUE_CONFIGS:
        for split in ("train", "validation"):
            ds = load_dataset(src.id, config, split=split, revision=src.revision)
            counts[f"{config}/{split}"] = write_jsonl(
                root / "superglue" / config / f"{split}.jsonl", _plain_rows(ds)
            )
    revision = hub_commit(src.id, src.revision)
    record_fetched(root, "superglue", {"source": src.id, "rows": counts, "revision": revision})


def fetch_hf_split(
    root: Path,
    dataset_id: str,
    config: str | None,
    split: str,
    revision: str | None = None,
    *,
    code_inputs: bool = False,
) -> None:
    """One split of any Hub dataset at ``revision``: its rows without image and audio columns
    (the labels), and with ``code_inputs`` its images as files, a code task's hidden inputs."""
    from datasets import load_dataset

    ds = load_dataset(dataset_id, config, split=split, revision=revision)
    commit = hub_commit(dataset_id, revision)
    labels = hf_split_path(root, dataset_id, config, split)
    images: dict[str, Any] | None = None
    if code_inputs:
        count, images = _write_with_inputs(root, ds, dataset_id, split, labels)
    else:
        count = write_jsonl(labels, _plain_rows(ds))
    record_fetched(
        root,
        hf_manifest_key(dataset_id, config, split),
        {"source": dataset_id, "config": config, "split": split, "rows": count, "revision": commit},
    )
    if images is not None:
        record_fetched(
            root,
            code_inputs_manifest_key(dataset_id, config, split),
            {"source": dataset_id, "config": config, "split": split, "revision": commit, **images},
        )


IMAGE_EXTENSIONS = {
    "BMP": "bmp",
    "GIF": "gif",
    "JPEG": "jpg",
    "PNG": "png",
    "PPM": "ppm",
    "TIFF": "tiff",
    "WEBP": "webp",
}
"""Image formats written as downloaded, with their file extension; any other is re-encoded as
PNG."""

DECODABLE_FORMATS = (*IMAGE_EXTENSIONS, "TGA", "ICO")
"""Formats PIL may decode here: raster formats it reads itself (never EPS or PDF, which go
through Ghostscript); others are refused as undecodable."""

MAX_IMAGE_ID_CHARS = 200
"""Longest image id written as a file name (file systems allow 255 bytes with the extension)."""


def image_file_stem(value: Any, where: str) -> str:
    """An image id as the stem of its file name; :class:`DatasetFormatError` for an id that
    could name a file outside its folder or a hidden one."""
    stem = "" if value is None else str(value)
    why = None
    if not stem:
        why = "it is empty"
    elif "/" in stem or "\\" in stem:
        why = "it holds a path separator"
    elif ".." in stem:
        why = "it holds '..'"
    elif stem.startswith("."):
        why = "it starts with '.'"
    elif not stem.isprintable():
        why = "it holds control characters"
    elif len(stem.encode()) > MAX_IMAGE_ID_CHARS:
        why = f"it is longer than {MAX_IMAGE_ID_CHARS} bytes"
    if why is not None:
        raise DatasetFormatError(
            f"{where}: image id {stem!r} is not a safe file name ({why}); no image of the "
            "split was written",
            hint=f"fix the dataset's {IMAGE_ID_COLUMN!r} column: each id becomes the file "
            "name <image_id>.<ext> of its image",
        )
    return stem


def _image_plan(ds: Any, where: str) -> tuple[str, list[str]]:
    """The split's image column and the file stems of its images, all checked before anything
    is written: one image column, an id column, every id a safe file name and unique."""
    from datasets import Image

    columns = [name for name, feature in ds.features.items() if isinstance(feature, Image)]
    if len(columns) != 1 or IMAGE_ID_COLUMN not in ds.features:
        raise DatasetFormatError(
            f"{where}: a code task's hidden inputs need one image column and an "
            f"{IMAGE_ID_COLUMN!r} column; the split has {sorted(ds.features)!r}",
            hint="check the dataset id and split the task spec names",
        )
    stems: list[str] = []
    seen: set[str] = set()
    for value in ds[IMAGE_ID_COLUMN]:
        stem = image_file_stem(value, where)
        if stem in seen:
            raise DatasetFormatError(
                f"{where}: image id {stem!r} is repeated; no image of the split was written",
                hint=f"each {IMAGE_ID_COLUMN!r} must name one image",
            )
        seen.add(stem)
        stems.append(stem)
    return columns[0], stems


def _encoded_image(value: Any, stem: str, where: str) -> tuple[bytes, str]:
    """(bytes, extension) of one image: as downloaded when its format is known, else PNG."""
    from PIL import Image, UnidentifiedImageError

    data = value.get("bytes") if isinstance(value, dict) else None
    if data is None and isinstance(value, dict) and value.get("path"):
        data = Path(value["path"]).read_bytes()  # a dataset read from local image files
    if data is None:
        raise DatasetFormatError(f"{where}: image {stem!r} has no data")
    try:
        with warnings.catch_warnings():  # past MAX_IMAGE_PIXELS PIL only warns: refuse it too
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=DECODABLE_FORMATS) as img:
                img.load()  # decodable, not just a readable header
                ext = IMAGE_EXTENSIONS.get(img.format or "")
                if ext is not None:
                    return bytes(data), ext
                png = io.BytesIO()
                img.save(png, format="PNG")
                return png.getvalue(), "png"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DatasetFormatError(
            f"{where}: image {stem!r} is too large to decode safely ({exc})",
            hint="a hidden test image over PIL's MAX_IMAGE_PIXELS is refused as a possible "
            "decompression bomb; check the dataset",
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DatasetFormatError(
            f"{where}: image {stem!r} cannot be decoded ({type(exc).__name__}: {exc})"
        ) from None


def _write_images(ds: Any, column: str, stems: list[str], folder: Path, where: str) -> Counter[str]:
    """Write each image as ``folder/<stem>.<ext>``; return how many of each extension."""
    from datasets import Image

    folder.mkdir(parents=True)
    raw = ds.select_columns([column]).cast_column(column, Image(decode=False))
    formats: Counter[str] = Counter()
    for stem, row in zip(stems, raw, strict=True):
        data, ext = _encoded_image(row[column], stem, where)
        (folder / f"{stem}.{ext}").write_bytes(data)
        formats[ext] += 1
    return formats


def _remove(path: Path) -> None:
    """Remove a set-aside inputs folder, or the link that stood in its place."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _write_with_inputs(
    root: Path, ds: Any, dataset_id: str, split: str, labels: Path
) -> tuple[int, dict[str, Any]]:
    """Write a split's labels and, as its code task's hidden inputs, its images.

    The images are written to a staging folder beside the inputs folder and renamed into place
    last: the old inputs folder is set aside before the labels change, so an interrupted
    prefetch leaves no inputs folder (exit 3 at evaluation, naming it), never a partial one or
    one that does not match its labels. Ids are all checked before anything is written.
    """
    from agent_eval.provenance import files_sha256

    where = f"{dataset_id} ({split})"
    column, stems = _image_plan(ds, where)
    target = code_inputs_path(root, dataset_id, split)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in [
        *target.parent.glob(f".{target.name}.partial-*"),
        *target.parent.glob(f".{target.name}.old-*"),
    ]:
        _remove(stale)  # left by a prefetch that was killed
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    old: Path | None = None
    labels_replaced = False
    try:
        formats = _write_images(ds, column, stems, staging / CODE_IMAGES_FOLDER, where)
        digest = files_sha256((f for f in staging.rglob("*") if f.is_file()), staging)
        staging.chmod(0o755)
        if target.exists() or target.is_symlink():
            old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
            target.rename(old)
        count = write_jsonl(labels, _plain_rows(ds))  # atomic: the old labels or the new
        labels_replaced = True
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None and not labels_replaced:
            old.rename(target)  # the labels did not change: the old pair stays whole
            old = None
        raise
    finally:
        if old is not None:
            _remove(old)
    return count, {
        "rows": len(stems),
        "folder": target.relative_to(root).as_posix(),
        "images": f"{CODE_IMAGES_FOLDER}/<{IMAGE_ID_COLUMN}>.<ext>",
        "formats": dict(sorted(formats.items())),
        "sha256": digest,
    }


HUB_PROBE_TIMEOUT_S = 3.0
"""How long ``prefetch`` waits for the Hub to answer (connection and a first answer) before
giving up with exit 3."""


def hub_endpoint() -> str:
    """The Hugging Face Hub address the libraries use (``HF_ENDPOINT`` or the default)."""
    return os.environ.get("HF_ENDPOINT") or "https://huggingface.co"


def check_hub_reachable(timeout_s: float = HUB_PROBE_TIMEOUT_S) -> None:
    """Fail fast (exit 3) unless the Hub answers a request within ``timeout_s`` in all (name
    resolution, connection, TLS and the first byte of an answer to ``HEAD /``).

    Without this, ``datasets`` retries for half a minute, or for minutes against an address
    that accepts connections and never answers, before a traceback. Name resolution has no
    timeout of its own, so the whole probe runs in a thread that is waited for.
    """
    import socket
    import ssl
    import threading
    from urllib.parse import urlsplit

    from agent_eval.errors import HubUnreachableError

    url = urlsplit(hub_endpoint())
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    failure: list[str] = ["no answer within the timeout"]

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s) as raw:
                # An address that accepts connections and never answers (a stuck proxy) would
                # hold every download in retries: the Hub must answer one request here.
                conn = (
                    ssl.create_default_context().wrap_socket(raw, server_hostname=host)
                    if url.scheme == "https"
                    else raw
                )
                conn.sendall(
                    f"HEAD / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
                )
                if not conn.recv(1):
                    raise ConnectionResetError("the connection closed without an answer")
                failure.clear()
        except TimeoutError:
            pass  # "no answer within the timeout"
        except OSError as exc:
            failure[0] = f"{type(exc).__name__}: {exc.strerror or exc}"

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if failure:
        raise HubUnreachableError(
            f"the Hugging Face Hub at {host}:{port} cannot be reached ({failure[0]}); "
            "prefetch downloads the evaluation data and needs the network",
            hint="run 'agent-eval prefetch' on a machine with network access (or set "
            "HF_ENDPOINT to a reachable mirror), then copy the data folder "
            f"(set {DATA_DIR_ENV}) to this one",
        )


@contextlib.contextmanager
def _hub_only() -> Iterator[None]:
    """Run the downloads from an empty working folder: ``datasets`` reads a local folder named
    like the dataset (``./cais/mmlu``) before the Hub, so one planted where prefetch runs
    would become the evaluation data."""
    previous = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="mlrb-prefetch-") as empty:
        os.chdir(empty)
        try:
            yield
        finally:
            os.chdir(previous)


def prefetch(tasks: list[str] | None, root: Path, *, log: Any = print) -> list[str]:
    """Download and lay out the evaluation data of these tasks (all tasks when None)."""
    from agent_eval.errors import FetchError, HubUnreachableError
    from agent_tasks.registry import get_task, list_tasks

    specs = [get_task(t) for t in tasks] if tasks else list_tasks()
    wanted = [(spec, kind, details) for spec in specs for kind, details in needs(spec)]
    done: list[str] = []
    if not wanted:
        return done
    check_hub_reachable()
    root = root.resolve()
    with online(), _hub_only():
        for spec, kind, details in wanted:
            key = f"{kind}:{details['id']}:{details['split']}" if kind == "hf" else kind
            if details.get("code_inputs"):
                key += "+images"
            if key in done:
                continue
            log(f"fetching {key} for {spec.name}")
            try:
                if kind == "wikitext2":
                    fetch_wikitext2(root)
                elif kind == "mmlu":
                    fetch_mmlu(root)
                elif kind == "blimp":
                    fetch_blimp(root)
                elif kind == "superglue":
                    fetch_superglue(root)
                else:
                    fetch_hf_split(
                        root,
                        details["id"],
                        details["config"],
                        details["split"],
                        details["revision"],
                        code_inputs=bool(details.get("code_inputs")),
                    )
            except (ConnectionError, TimeoutError) as exc:  # the network went away midway
                raise HubUnreachableError(
                    f"fetching {key} failed: {type(exc).__name__}: {exc}",
                    hint="check the network and run the same prefetch again (finished "
                    "datasets are kept)",
                ) from None
            except OSError as exc:  # the Hub answered wrongly (a proxy, a mirror), or the disk
                raise FetchError(
                    f"fetching {key} failed: {type(exc).__name__}: {exc}",
                    hint="check that HF_ENDPOINT (or huggingface.co) serves this dataset at "
                    "this revision, and the free space of the data folder; then run the same "
                    "prefetch again (finished datasets are kept)",
                ) from None
            done.append(key)
    return done
