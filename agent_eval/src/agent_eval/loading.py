"""Load what an agent delivered, once, for every metric: a model folder, an adapter, a run.

Rules (see docs/evaluator.md):

- a **run folder** (has ``run.json``): the deliverable is exactly ``run.json``'s
  ``deliverable.path``, the one the harness accepted; none, or a rejected one, is an error
  linked to the run's id and its agent (never a look at ``output/model`` behind the harness);
- **any deliverable** first passes :mod:`agent_eval.deliverable_check` (which deliverable: a
  run folder's accepted one; is it safe: no special files, no links leaving it, sizes capped)
  before anything here opens it: loading receives its :class:`ResolvedDeliverable` and never calls
  back into admission except to open a checked file;
- a **PEFT adapter folder** (has ``adapter_config.json``): the base model named there must be on
  this machine (a folder, or in the local Hugging Face cache); the adapter is merged into it;
- a **Hugging Face model folder** (has ``config.json``): safetensors or ``.bin`` weights,
  sharded (an ``*.index.json``) or not, causal or sequence-to-sequence.

Nothing is downloaded and no remote code runs. A tokenizer is needed only by metrics that read
or write text; ``parameters`` and the constraints work without one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_contracts.results import ModelInfo
from agent_eval.errors import ModelLoadError

if TYPE_CHECKING:
    from agent_eval.deliverable_check import CheckedTree, ResolvedDeliverable

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "spiece.model",
    "tokenizer.model",
    "vocab.txt",
)
QUANTIZED_FORMAT_FILES = ("quantize_config.json", "quant_config.json")
"""Side files written by GPTQ / AWQ style quantizers."""

_SAFETENSORS_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "U16": "uint16",
    "U32": "uint32",
    "U64": "uint64",
    "BOOL": "bool",
    "I4": "int4",
    "U4": "uint4",
}
FLOAT_DTYPES = frozenset({"float64", "float32", "float16", "bfloat16"})


@dataclass
class LoadedModel:
    """A model loaded once and shared by every metric."""

    model: Any
    """The ``torch.nn.Module`` (a PEFT adapter already merged)."""
    tokenizer: Any | None
    """The tokenizer, or None when the folder has none."""
    info: ModelInfo
    device: str
    """``cpu`` or ``cuda:0``."""
    dtype: str
    """Dtype the model runs in."""
    is_seq2seq: bool
    folder: Path
    """Folder of the deliverable."""
    stored_dtypes: dict[str, int] = field(default_factory=dict)
    """Element count per dtype of the stored weights."""
    quantization: list[str] = field(default_factory=list)
    """Signs of quantization found in the files (empty when none)."""
    adapter_parameters: int | None = None
    """Parameters of the PEFT adapter before merging."""
    tokenizer_problem: str | None = None
    """Why tokenizer files present in the folder did not load (None: they did, or none)."""

    def need_tokenizer(self, what: str) -> Any:
        """The tokenizer, or a load error naming the metric that needs it."""
        if self.tokenizer is None:
            raise _no_tokenizer(self.folder, what, self.tokenizer_problem)
        return self.tokenizer


def content_hash(path: Path, checked: CheckedTree | None = None) -> str:
    """sha256 over the sorted relative file names and their bytes (a file: its bytes).

    It covers exactly the files of the checked deliverable (``checked``, else ``path`` is
    checked here): regular files inside it, and links inside it under their own name with the
    bytes they point at; nothing outside the deliverable, nothing that is not a regular file.
    """
    from agent_eval.deliverable_check import check_tree, open_regular

    tree = checked if checked is not None else check_tree(path)
    digest = hashlib.sha256()
    for file in tree.files:
        digest.update(file.name.encode() + b"\0")
        with open_regular(file.real) as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def _weight_files(folder: Path) -> list[Path]:
    """Every weight file of a model folder (following a shard index)."""
    for name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / name
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise ModelLoadError(
                    f"shard index {str(index)!r} is corrupt ({type(exc).__name__}: {exc})",
                    hint="save the model again with model.save_pretrained(folder), which writes "
                    "the index with its weight_map beside the shards",
                ) from None
            shards = [folder / s for s in sorted(set(weight_map.values()))]
            absent = [s.name for s in shards if not s.is_file()]
            if absent:
                raise ModelLoadError(
                    f"model folder {str(folder)!r} lacks shards named in {name}: "
                    f"{', '.join(absent[:5])}",
                    hint="copy every shard the index names into the folder, or save the model "
                    "again",
                )
            return shards
    for name in ("model.safetensors", "pytorch_model.bin", *ADAPTER_WEIGHTS):
        if (folder / name).is_file():
            return [folder / name]
    return []


def safetensors_tensors(path: Path) -> dict[str, tuple[str, list[int]]]:
    """Each tensor's stored dtype (``F32``, ``I8`` ...) and shape, from a safetensors header.

    The ``safetensors`` library checks the header against the file: a truncated, padded or
    garbled file is a :class:`ModelLoadError`.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return {
                name: (fh.get_slice(name).get_dtype(), list(fh.get_slice(name).get_shape()))
                for name in fh.keys()  # noqa: SIM118 (a safe_open handle is not a dict)
            }
    except SafetensorError as exc:
        raise ModelLoadError(
            f"weights file {str(path)!r} is corrupt or truncated ({exc})",
            hint="copy the model folder again; the file does not parse as safetensors",
        ) from None
    except OSError:  # safetensors reports an unreadable file as "No such file or directory"
        from agent_eval.deliverable_check import UNREADABLE_HINT

        raise ModelLoadError(
            f"{str(path)!r} cannot be read: {_why_unreadable(path)}", hint=UNREADABLE_HINT
        ) from None


def _why_unreadable(path: Path) -> str:
    """The operating system's reason a file cannot be opened for reading."""
    try:
        with path.open("rb"):
            return "unknown reason"
    except OSError as exc:
        return exc.strerror or str(exc)


def stored_dtypes(files: list[Path]) -> tuple[dict[str, int], list[str]]:
    """Element count per stored dtype, and integer weight tensors that look quantized."""
    counts: dict[str, int] = {}
    suspicious: list[str] = []
    for file in files:
        if file.suffix == ".safetensors":
            for name, (stored, shape) in safetensors_tensors(file).items():
                dtype = _SAFETENSORS_DTYPES.get(stored, stored.lower())
                numel = 1
                for dim in shape:
                    numel *= int(dim)
                counts[dtype] = counts.get(dtype, 0) + numel
                if _quantized_tensor(name, dtype):
                    suspicious.append(f"{file.name}:{name} ({dtype})")
        else:
            import torch

            try:
                state = torch.load(file, map_location="meta", weights_only=True, mmap=True)
            except Exception as exc:  # any unpickling failure means the file is unusable
                raise ModelLoadError(
                    f"weights file {str(file)!r} is corrupt or truncated "
                    f"({type(exc).__name__}: {exc})",
                    hint="copy the model folder again, or save it with "
                    "model.save_pretrained(folder) (safetensors by default)",
                ) from None
            for name, tensor in state.items():
                dtype = str(tensor.dtype).removeprefix("torch.")
                counts[dtype] = counts.get(dtype, 0) + int(tensor.numel())
                if _quantized_tensor(name, dtype):
                    suspicious.append(f"{file.name}:{name} ({dtype})")
    return counts, suspicious


def _quantized_tensor(name: str, dtype: str) -> bool:
    if dtype in FLOAT_DTYPES or dtype == "bool":
        return False
    markers = ("qweight", "qzeros", "scales", "absmax", "quant_map", "quant_state")
    return name.endswith(".weight") or any(m in name for m in markers) or dtype.startswith("float8")


def dtype_label(counts: dict[str, int]) -> str | None:
    """The floating dtype of the weights (``float16``), or ``a+b`` when mixed, None when none."""
    floats = sorted(d for d in counts if d in FLOAT_DTYPES or d.startswith("float8"))
    return "+".join(floats) if floats else None


def quantization_signs(folder: Path, config: dict[str, Any], suspicious: list[str]) -> list[str]:
    """Every sign that a model folder holds quantized weights."""
    signs = []
    if config.get("quantization_config"):
        method = config["quantization_config"].get("quant_method", "unknown")
        signs.append(f"config.json has quantization_config (quant_method={method!r})")
    signs += [f"{n} present" for n in QUANTIZED_FORMAT_FILES if (folder / n).is_file()]
    signs += [f"{p.name} (GGUF)" for p in folder.glob("*.gguf")]
    signs += [f"integer weight {s}" for s in suspicious[:5]]
    return signs


@dataclass(frozen=True)
class WeightFacts:
    """What the weight files say without loading them: stored dtypes, signs of quantization."""

    stored_dtypes: dict[str, int]
    """Element count per stored dtype."""
    quantization: list[str]
    """Signs of quantization (empty when none)."""


def inspect_weights(folder: Path) -> WeightFacts:
    """Read config and weight headers of a model (or adapter and its base) folder."""
    if (folder / "adapter_config.json").is_file():
        base = Path(_peft_base(folder)[0])
        config = _read_config(base)
        files = _weight_files(base) + _weight_files(folder)
    else:
        base = folder
        config = _read_config(folder)
        files = _weight_files(folder)
    counts, suspicious = stored_dtypes(files)
    return WeightFacts(counts, quantization_signs(base, config, suspicious))


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise ModelLoadError(
            f"{str(folder)!r} is not a model folder: it has no config.json",
            hint="save the model with model.save_pretrained(folder), or pass an adapter or run",
        )
    try:
        config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(
            f"{str(path)!r} is not valid JSON: {exc}",
            hint="save the model again with model.save_pretrained(folder), which writes "
            "config.json",
        ) from None
    if not isinstance(config, dict):
        raise ModelLoadError(
            f"{str(path)!r} is not a JSON object",
            hint="save the model again with model.save_pretrained(folder), which writes "
            "config.json",
        )
    return config


def _auto_config(source: str | Path) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(source), trust_remote_code=False)
    except (ValueError, KeyError) as exc:
        raise ModelLoadError(
            f"architecture of {str(source)!r} is not supported: {exc}".split("\n")[0],
            hint="deliver a model whose model_type this transformers version knows "
            "(no custom code is run)",
        ) from None
    except OSError as exc:
        raise ModelLoadError(
            f"cannot read the config of {str(source)!r}: {exc}",
            hint="save the model again with model.save_pretrained(folder), which writes "
            "config.json",
        ) from None


def _model_class(config: Any) -> tuple[Any, bool]:
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    if getattr(config, "is_encoder_decoder", False):
        return AutoModelForSeq2SeqLM, True
    return AutoModelForCausalLM, False


def _torch_dtype(name: str) -> Any:
    import torch

    return "auto" if name == "auto" else getattr(torch, name)


def pick_device(device: str) -> str:
    """``auto`` -> ``cuda:0`` when a GPU is there, else ``cpu``; ``cuda`` without one fails."""
    import torch

    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        from agent_contracts.errors import ExitCode
        from agent_eval.errors import EvalUsageError

        raise EvalUsageError(
            f"--device {device} was asked for but no CUDA device is available",
            hint="use --device cpu or --device auto",
            exit_code=ExitCode.ENVIRONMENT,
        )
    if device.startswith("cuda:"):
        from agent_contracts.errors import ExitCode
        from agent_eval.errors import EvalUsageError

        index = device.removeprefix("cuda:")
        count = torch.cuda.device_count()
        if not index.isdigit() or int(index) >= count:
            raise EvalUsageError(
                f"--device {device} names no CUDA device of this machine ({count} found)",
                hint=f"use --device cuda or cuda:0 ... cuda:{count - 1}",
                exit_code=ExitCode.ENVIRONMENT,
            )
    return "cuda:0" if device == "cuda" else device


def _from_pretrained(
    cls: Any, source: str | Path, config: Any, dtype: str, dtypes: tuple[str, ...] = ()
) -> Any:
    """The model, or a load error; ``dtypes``: the task's allowed dtypes, named in a hint."""
    try:
        model, info = cls.from_pretrained(
            str(source),
            config=config,
            dtype=_torch_dtype(dtype),
            trust_remote_code=False,
            local_files_only=True,
            output_loading_info=True,
        )
    except ModelLoadError:
        raise
    except ImportError as exc:
        # transformers asks for a quantization backend (bitsandbytes, GPTQ ...) named in
        # config.json's quantization_config: the deliverable cannot run here, record why.
        quant = getattr(config, "quantization_config", None)
        if isinstance(quant, dict):
            method = str(quant.get("quant_method", "?"))
        else:
            method = str(getattr(quant, "quant_method", "?"))
        first = str(exc).strip().split("\n")[0]
        raise ModelLoadError(
            f"cannot load {str(source)!r}: its config.json asks for quantization "
            f"(quant_method={method!r}) that needs a package this evaluator lacks: {first}",
            hint="deliver the weights unquantized"
            + (f" (this task allows {', '.join(dtypes)} only)" if dtypes else ""),
        ) from None
    except (OSError, ValueError, RuntimeError, KeyError, EOFError) as exc:
        first = str(exc).strip().split("\n")[0]
        raise ModelLoadError(
            f"cannot load the weights of {str(source)!r}: {type(exc).__name__}: {first}",
            hint="the weights may be corrupt, truncated or of another architecture",
        ) from None
    missing = [k for k in info.get("missing_keys", []) if "position_ids" not in k]
    if missing:
        raise ModelLoadError(
            f"weights of {str(source)!r} lack {len(missing)} tensors the architecture needs "
            f"(e.g. {', '.join(missing[:3])})",
            hint="the checkpoint does not match its config.json",
        )
    return model


def _tokenizer(*folders: str | Path) -> tuple[Any | None, str | None]:
    """The first of ``folders`` whose tokenizer loads; else None and why the first folder with
    tokenizer files could not load them (None: no folder has any)."""
    from transformers import AutoTokenizer

    problem: str | None = None
    for folder in folders:
        local = Path(folder)
        if local.is_dir() and not any((local / n).is_file() for n in TOKENIZER_FILES):
            continue
        try:
            tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        except Exception as exc:  # the tokenizers library raises bare Exception on bad files
            first = str(exc).strip().split("\n")[0]
            problem = problem or (
                f"tokenizer unreadable: the tokenizer files of {str(folder)!r} do not load "
                f"({type(exc).__name__}: {first})"
            )
            continue
        if getattr(tok, "pad_token", None) is None and getattr(tok, "eos_token", None):
            tok.pad_token = tok.eos_token
        return tok, None
    return None, problem


TOKENIZER_UNREADABLE_HINT = (
    "save the tokenizer again next to the weights (tokenizer.save_pretrained(folder)); its "
    "files must be the ones transformers writes"
)
"""What to do about tokenizer files that are there but do not load."""


def _no_tokenizer(folder: Path, what: str, problem: str | None) -> ModelLoadError:
    """The error for a metric (``what``) that needs a tokenizer the model has not, or whose
    files do not load (``problem``)."""
    if problem is not None:
        return ModelLoadError(
            f"{problem}; {what} needs a tokenizer", hint=TOKENIZER_UNREADABLE_HINT
        )
    return ModelLoadError(
        f"the model folder {str(folder)!r} has no tokenizer, which {what} needs",
        hint="save the tokenizer next to the weights (tokenizer.save_pretrained(folder))",
    )


PEFT_SAVE_HINT = (
    "save the adapter again with peft_model.save_pretrained(folder), or merge it into the base "
    "(merge_and_unload) and deliver the merged model"
)
"""What to do about an adapter folder whose files do not load."""


def _peft_base(adapter: Path) -> tuple[str, dict[str, Any]]:
    try:
        cfg = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(
            f"adapter_config.json of {str(adapter)!r} is unreadable: {exc}",
            hint=PEFT_SAVE_HINT,
        ) from None
    base = cfg.get("base_model_name_or_path") if isinstance(cfg, dict) else None
    if not base or not isinstance(base, str):
        raise ModelLoadError(
            f"adapter {str(adapter)!r} does not name its base model",
            hint="set base_model_name_or_path in adapter_config.json to the base model's "
            "Hugging Face name or folder",
        )
    local = Path(base).expanduser()
    if not local.is_absolute() and (adapter / base).is_dir():
        local = adapter / base
    if not local.is_dir():
        try:
            from huggingface_hub import snapshot_download

            local = Path(snapshot_download(base, local_files_only=True))
        except Exception:  # any cache miss (several exception types across hub versions)
            raise ModelLoadError(
                f"base model {base!r} of the PEFT adapter {str(adapter)!r} is not on this machine",
                hint="evaluation is offline: mount the base model and name its folder in "
                "adapter_config.json, or merge the adapter into the base and deliver that",
            ) from None
    from agent_eval.deliverable_check import check_tree

    # The base is this machine's model (the Hugging Face cache links its snapshots into a blob
    # store), so links may leave it; a FIFO or device node in it is still refused unopened.
    check_tree(local, links_may_leave=True)
    return str(local), cfg


def load(
    deliverable: ResolvedDeliverable,
    *,
    device: str = "auto",
    dtype: str = "auto",
    need_tokenizer: str | None = None,
    allowed_dtypes: tuple[str, ...] = (),
) -> LoadedModel:
    """Load the model once; ``need_tokenizer`` names what needs one (None: optional);
    ``allowed_dtypes``: the task's dtype rule, named in the hint for quantized weights."""
    folder = deliverable.path
    if deliverable.missing is not None:
        raise deliverable.missing
    if not folder.is_dir():
        raise ModelLoadError(
            f"{str(folder)!r} is a file, not a model folder",
            hint="pass the folder holding config.json and the weights",
        )
    run_on = pick_device(device)
    digest = content_hash(folder, deliverable.checked)  # checks the folder when not yet done
    adapter = (folder / "adapter_config.json").is_file()
    adapter_params: int | None = None
    if adapter:
        base_source, adapter_cfg = _peft_base(folder)
        config_dict = _read_config(Path(base_source))
        files = _weight_files(Path(base_source)) + _weight_files(folder)
        counts, suspicious = stored_dtypes(files)
        config = _auto_config(base_source)
        cls, is_seq2seq = _model_class(config)
        base = _from_pretrained(cls, base_source, config, dtype, allowed_dtypes)
        try:
            from peft import PeftModel

            peft_model = PeftModel.from_pretrained(base, str(folder), is_trainable=False)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            first = str(exc).strip().split("\n")[0]
            raise ModelLoadError(
                f"cannot apply the PEFT adapter {str(folder)!r}: {first}", hint=PEFT_SAVE_HINT
            ) from None
        adapter_params = sum(
            p.numel() for n, p in peft_model.named_parameters() if "lora_" in n or "adapter" in n
        )
        model = peft_model.merge_and_unload()
        tokenizer, tokenizer_problem = _tokenizer(folder, base_source)
        base_name: str | None = str(adapter_cfg.get("base_model_name_or_path"))
        quant_folder = Path(base_source)
    else:
        config_dict = _read_config(folder)
        files = _weight_files(folder)
        if not files:
            raise ModelLoadError(
                f"model folder {str(folder)!r} has no weights "
                f"(looked for {', '.join(WEIGHT_FILES)})",
                hint="save with model.save_pretrained(folder)",
            )
        counts, suspicious = stored_dtypes(files)
        config = _auto_config(folder)
        cls, is_seq2seq = _model_class(config)
        model = _from_pretrained(cls, folder, config, dtype, allowed_dtypes)
        tokenizer, tokenizer_problem = _tokenizer(folder)
        base_name = None
        quant_folder = folder
    if tokenizer is None and need_tokenizer:
        raise _no_tokenizer(folder, need_tokenizer, tokenizer_problem)
    model.to(run_on)
    model.eval()
    running = str(next(model.parameters()).dtype).removeprefix("torch.")
    arch = (getattr(config, "architectures", None) or [type(model).__name__])[0]
    info = ModelInfo(
        path=str(folder),
        sha256=digest,
        format="peft_adapter" if adapter else "hf_model",
        architecture=f"{arch} ({config_dict.get('model_type', '?')})",
        base_model=base_name,
        dtype=dtype_label(counts),
        quantization=tuple(quantization_signs(quant_folder, config_dict, suspicious)),
    )
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        info=info,
        device=run_on,
        dtype=running,
        is_seq2seq=is_seq2seq,
        folder=folder,
        stored_dtypes=counts,
        quantization=quantization_signs(quant_folder, config_dict, suspicious),
        adapter_parameters=adapter_params,
        tokenizer_problem=tokenizer_problem,
    )


def predictions_file(deliverable: ResolvedDeliverable, name: str = "submission.csv") -> Path:
    """The predictions CSV of a deliverable (the file itself, or ``name`` inside a folder)."""
    path = deliverable.path
    if path.is_dir():
        path = path / name
    if not path.is_file():
        raise ModelLoadError(
            f"no predictions file at {str(path)!r}",
            hint=f"the task expects a CSV named {name!r}",
        )
    return path
