"""An independent verifier of a Palisade audit log, in Python with only the standard library.

It recomputes everything from docs/AUDIT.md without any Palisade code: the layout of
every record, the HMAC chain, the RFC 9162 Merkle tree, and each checkpoint's Ed25519
signature (RFC 8032 verification, written out below). It hashes the entry's bytes as
stored, as the spec says a verifier should, rather than re-encoding them (number
formats differ between JSON libraries). `cargo xtask test` runs it on the log the
example deployment wrote during the interop run.

usage: verify_audit.py LOG_DIR HMAC_KEY_FILE   (the file may hold several keys, comma-separated)
"""

import base64
import hashlib
import hmac
import json
import pathlib
import sys

# --- Ed25519 verification (RFC 8032, section 6) ----------------------------------------

P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P
Q = 2**252 + 27742317777372353535851937790883648493
SQRT_M1 = pow(2, (P - 1) // 4, P)


def point_add(a, b):
    x = (a[1] - a[0]) * (b[1] - b[0]) % P
    y = (a[1] + a[0]) * (b[1] + b[0]) % P
    c = 2 * a[3] * b[3] * D % P
    d = 2 * a[2] * b[2] % P
    e, f, g, h = y - x, d - c, d + c, y + x
    return (e * f, g * h, f * g, e * h)


def point_mul(s, point):
    result = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            result = point_add(result, point)
        point = point_add(point, point)
        s >>= 1
    return result


def point_equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


G_Y = 4 * pow(5, P - 2, P) % P
G_X = recover_x(G_Y, 0)
G = (G_X, G_Y, 1, G_X * G_Y % P)


def decompress(data):
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


def ed25519_verify(public, message, signature):
    if len(public) != 32 or len(signature) != 64:
        return False
    a = decompress(public)
    r = decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= Q:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % Q
    return point_equal(point_mul(s, G), point_add(r, point_mul(h, a)))


# --- The log ---------------------------------------------------------------------------


def merkle_root(leaves):
    """MTH of RFC 9162 section 2.1.1."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:])).digest()


def main():
    log_dir = pathlib.Path(sys.argv[1])
    keys = {}
    for secret in pathlib.Path(sys.argv[2]).read_text().split(","):
        secret = secret.strip().encode()
        if secret:
            keys["h" + hashlib.sha256(b"palisade-audit-chain-key-id\x00" + secret).digest()[:8].hex()] = secret
    pem = (log_dir / "checkpoint.pub").read_text()
    der = base64.b64decode("".join(line for line in pem.splitlines() if not line.startswith("-----")))
    assert der[:12] == bytes.fromhex("302a300506032b6570032100"), "not an Ed25519 SubjectPublicKeyInfo"
    public = der[12:]
    key_id = "e" + hashlib.sha256(public).digest()[:8].hex()

    problems = []
    leaves = []
    prev = bytes(32)
    for segment in sorted(log_dir.glob("segment-*.jsonl")):
        # A segment a writer still has open (or had, before a crash) ends in zero bytes
        # laid ahead of its records: they are not records (docs/AUDIT.md, Files).
        records = segment.read_bytes().rstrip(b"\0")
        for number, line in enumerate(records.splitlines(), start=1):
            where = f"{segment.name}:{number}"
            record = json.loads(line)
            seq = record["seq"]
            # The entry's bytes as stored: everything between the opening `{"entry":` and
            # the envelope fields that follow it, whose layout is fixed.
            tail = f',"kid":"{record["kid"]}","mac":"{record["mac"]}","seq":{seq},"v":1}}'.encode()
            if not (line.startswith(b'{"entry":') and line.endswith(tail)):
                problems.append(f"{where}: the record's envelope is not in its canonical layout")
                continue
            entry = line[len(b'{"entry":') : -len(tail)]
            if json.loads(entry) != record["entry"]:
                problems.append(f"{where}: the entry bytes do not parse to the entry")
            if seq != len(leaves):
                problems.append(f"{where}: seq {seq}, expected {len(leaves)}")
            key = keys.get(record["kid"])
            if key is None:
                problems.append(f"{where}: chain key {record['kid']} was not given")
                key = b""
            message = b"palisade-audit-chain-v1\x00" + prev + seq.to_bytes(8, "big") + entry
            mac = hmac.new(key, message, hashlib.sha256).digest()
            if mac.hex() != record["mac"]:
                problems.append(f"{where}: chain MAC does not match")
            prev = bytes.fromhex(record["mac"])
            leaves.append(hashlib.sha256(b"\x00" + line).digest())

    checkpoints = [json.loads(line) for line in (log_dir / "checkpoints.jsonl").read_text().splitlines()]
    for checkpoint in checkpoints:
        size = checkpoint["size"]
        if checkpoint["key_id"] != key_id:
            problems.append(f"checkpoint {size}: signed by {checkpoint['key_id']}, expected {key_id}")
        message = f"palisade-audit-checkpoint-v1\n{checkpoint['key_id']}\n{size}\n{checkpoint['root']}\n{checkpoint['timestamp_ms']}\n"
        if not ed25519_verify(public, message.encode(), bytes.fromhex(checkpoint["signature"])):
            problems.append(f"checkpoint {size}: bad signature")
        if size > len(leaves) or merkle_root(leaves[:size]).hex() != checkpoint["root"]:
            problems.append(f"checkpoint {size}: root does not match the records")
    if not checkpoints or max(c["size"] for c in checkpoints) != len(leaves):
        problems.append("the newest checkpoint does not cover every record")

    for problem in problems:
        print(problem)
    print(f"python verifier: {len(leaves)} records, {len(checkpoints)} checkpoints, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
