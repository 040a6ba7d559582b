#!/usr/bin/env python3
"""Writes the seed corpus for DocketFuzz from protocol/vectors.jsonl and protocol/examples.

Usage: make-corpus.py OUTPUT_DIR

Each seed is one file named by the SHA-1 of its bytes, so running this again over a corpus
libFuzzer has grown adds nothing twice and removes nothing libFuzzer found.
"""
import hashlib
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "protocol"


def vector_bytes(vector):
    """The bytes a vector sends, as the replay test sends them: one line each."""
    if "send_hex" in vector:
        return bytes.fromhex(vector["send_hex"])
    if "send_raw" in vector:
        return vector["send_raw"].encode("utf-8")
    return json.dumps(vector["send"], separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def seeds():
    lines = []
    for text in (PROTOCOL / "vectors.jsonl").read_text(encoding="utf-8").splitlines():
        if text.strip():
            lines.append(vector_bytes(json.loads(text)))
    for path in sorted((PROTOCOL / "examples").glob("*.request.json")):
        # Examples are pretty-printed; the wire wants each on one line.
        lines.append(json.dumps(json.loads(path.read_text(encoding="utf-8")), separators=(",", ":"),
                                ensure_ascii=False).encode("utf-8"))
    for line in lines:
        yield line + b"\n"
    # Answers and event lines too: they exercise the parser on what the encoder writes.
    for path in sorted((PROTOCOL / "examples").glob("*.json")):
        if not path.name.endswith(".request.json"):
            yield json.dumps(json.loads(path.read_text(encoding="utf-8")), separators=(",", ":"),
                             ensure_ascii=False).encode("utf-8") + b"\n"
    # A stream of several requests, as a pipelining client sends them, with CR LF endings.
    yield b"\r\n".join(lines[:20]) + b"\r\n"
    # Nesting right at the limit of 64 levels (the request being the first) and one past it,
    # in objects as well as arrays: mutation alone rarely builds 64 matching brackets.
    for depth in (63, 64):
        yield b'{"op":"enqueue","queue":"q","payload":' + b"[" * depth + b"]" * depth + b"}\n"
        yield b'{"op":"enqueue","queue":"q","payload":' + b'{"a":' * depth + b"null" + b"}" * depth + b"}\n"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for seed in seeds():
        path = out / hashlib.sha1(seed).hexdigest()
        if not path.exists():
            path.write_bytes(seed)
            written += 1
    print(f"make-corpus: {written} new seeds in {out}")


if __name__ == "__main__":
    main()
