"""Builds Palisade's prompt-injection evaluation split from public registry packages.

Run by `cargo xtask eval` (never by hand): `python3 injection_dataset.py CACHE OUT.jsonl`.
Every package is downloaded from PyPI by pip with its sha256 pinned (`--require-hashes`),
read in place (never installed; no code of the dataset packages is run: their Python
files are parsed with `ast`, their data read as JSON, CSV or YAML), and turned into rows
`{"id", "text", "label", "source", "split", "hard"}`:

- label: "injection" or "benign".
- split: "dev" or "test", fixed by the sha256 of the text (half each), so the split is
  the same on every machine and a text never lands in both.
- hard: a benign text that mentions ignore / system / instruction(s) / prompt / rules, the
  words a naive filter fires on.

Reserved for independent evaluation and never read here: bastioncorpus, garak,
agentdojo, spikee, agent-injection-bench, bfcl-eval, and anything derived from them
(inspect_evals' agentdojo and b3 folders are not opened; pyrit's garak data is not read).
pyrit's `pliny` templates are left out for their licence.
"""

import ast
import csv
import io
import json
import re
import sys
import zipfile
from pathlib import Path

from pinned import ensure, split_of, stable_hash

# (requirement, wheel file name, sha256 of the wheel, licence as the package declares it)
WHEELS = [
    ("pyrit==1.1.0", "pyrit-1.1.0-py3-none-any.whl",
     "84581036bace7ff2aa92712e1e3f472a3a3bccc77567d5fbe642540c0ba20b0a", "MIT"),
    ("promptshields==3.2.0", "promptshields-3.2.0-py3-none-any.whl",
     "12581872de7a4eccb5e220f410fcd0ab2c2c87620edd86b2e5f68de8df1e25a4", "MIT"),
    ("inspect-evals==0.28.0", "inspect_evals-0.28.0-py3-none-any.whl",
     "1d5735999b1c4e481162cacc29b962beeefd540c1e6222cccfdb40e79e8d459d", "MIT"),
    ("promptbench==0.0.4", "promptbench-0.0.4-py3-none-any.whl",
     "6d1341582ff59b3db73d39708e5ed55cf2955d49f76db6a9dd85f0ce37740bb8", "MIT"),
    ("promptinject==0.1.1.1", "promptinject-0.1.1.1-py3-none-any.whl",
     "98d020b6878c0c32703110d19c0b1651868e906da0f3b1472d349923bda5fedf", "MIT"),
]
# PyYAML reads pyrit's templates: the one package whose code runs here, imported from its
# pinned wheel (its pure-Python fallback; the wheel's C extension is not loaded from a zip).
PYYAML = ("pyyaml==6.0.3", "pyyaml-6.0.3-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
          "b8bb0864c5a28024fac8a632c443c87c5aa6f215c0b126c449ae1a150412f31d", "MIT")

HARD = re.compile(r"\b(ignor\w*|system|instructions?|prompts?|rules|disregard|override)\b", re.I)
MAX_CHARS = 6000


class Rows:
    def __init__(self):
        self.rows = {}

    def add(self, text, label, source):
        if not isinstance(text, str):
            return
        text = text.strip()
        if len(text) < 8 or len(text) > MAX_CHARS:
            return
        key = " ".join(text.lower().split())
        if key in self.rows:
            return
        digest = stable_hash(key)
        self.rows[key] = {
            "id": digest[:16],
            "text": text,
            "label": label,
            "source": source,
            "split": split_of(key),
            "hard": label == "benign" and bool(HARD.search(text)),
        }


def sample(items, count, salt):
    """A deterministic sample: the `count` items with the smallest salted hash."""
    return sorted(items, key=lambda t: stable_hash(salt + t))[:count]


def pyrit(zf, rows, yaml):
    base = "pyrit/datasets/"
    goals = [s["value"] for s in yaml.safe_load(zf.read(base + "seed_datasets/local/adv_bench.prompt"))["seeds"]]
    names = sorted(n for n in zf.namelist()
                   if n.startswith(base + "jailbreak/templates/") and n.endswith(".yaml") and "/pliny/" not in n)
    for i, name in enumerate(names):
        doc = yaml.safe_load(zf.read(name))
        value = doc.get("value") if isinstance(doc, dict) else None
        if not isinstance(value, str):
            continue
        goal = goals[i % len(goals)]
        text = re.sub(r"\{\{\s*prompt\s*\}\}", goal, value)
        if "{{" in text:  # multi-parameter templates: fill every slot with the goal
            text = re.sub(r"\{\{\s*\w+\s*\}\}", goal, text)
        rows.add(text, "injection", "pyrit/jailbreak-templates")


def promptshields(zf, rows):
    base = "promptshield/attack_db/"
    for name in sorted(n for n in zf.namelist() if n.startswith(base) and n.endswith(".json")):
        data = json.loads(zf.read(name))
        items = data if isinstance(data, list) else next((v for v in data.values() if isinstance(v, list)), [])
        benign = "/benign/" in name
        for item in items:
            if not isinstance(item, dict):
                continue
            text = item.get("prompt") or item.get("text")
            if benign:
                rows.add(text, "benign", "promptshields/benign")
            elif item.get("expected_violation", True):
                rows.add(text, "injection", "promptshields/" + name[len(base):].split("/")[0])


def inspect_evals(zf, rows):
    base = "inspect_evals/"
    for item in json.loads(zf.read(base + "ipi_coding_agent/dataset/samples.json")):
        vector = item.get("injection_vector")
        carrier = item.get("issue_text") if vector == "issue_text" else None
        if carrier is None and isinstance(item.get("repo_files"), dict):
            # The file the payload was planted in: the one holding the indicator.
            pattern = item.get("payload_indicator") or "$^"
            carrier = next((v for v in item["repo_files"].values() if re.search(pattern, v)), None)
        if carrier is None:
            carrier = item.get("issue_text")
        label = "benign" if item.get("is_benign") else "injection"
        rows.add(carrier, label, "inspect_evals/ipi_coding_agent")
    tickets = json.loads(zf.read(base + "gdm_stealth/solver/strategic_rule_breaking/tickets.json"))
    for t in tickets:
        rows.add(f"{t.get('subject', '')}\n\n{t.get('description', '')}", "benign", "inspect_evals/support-tickets")
    queries = []
    for line in zf.read(base + "writingbench/benchmark_all.jsonl").decode().splitlines():
        q = json.loads(line).get("query")
        if isinstance(q, str) and len(q) <= 3000:
            queries.append(q)
    for q in sample(queries, 500, "writingbench"):
        rows.add(q, "benign", "inspect_evals/writingbench")
    raw = zf.read(base + "abstention_bench/data/freshqa/FreshQA_v12182024.csv").decode()
    lines = raw.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("id,split,question"))
    questions = [r["question"] for r in csv.DictReader(io.StringIO("\n".join(lines[start:])))]
    for q in sample(questions, 300, "freshqa"):
        rows.add(q, "benign", "inspect_evals/freshqa")


def literals(source):
    """Every string constant in the module's top-level assignments."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append(node.value)
    return out


def promptbench(zf, rows):
    texts = []
    for name in ("task_oriented", "role_oriented"):
        texts += [t for t in literals(zf.read(f"promptbench/prompts/{name}.py").decode()) if len(t) > 40]
    for t in sample(texts, 400, "promptbench"):
        rows.add(t.replace("{content}", "").replace("Question:\nAnswer:", "").strip(), "benign", "promptbench/prompts")


def promptinject(zf, rows):
    tree = ast.parse(zf.read("promptinject/prompt_data.py").decode())
    for node in tree.body:
        if not isinstance(node, ast.Assign) or not isinstance(node.targets[0], ast.Name):
            continue
        name = node.targets[0].id
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            continue
        if name in ("goal_hikacking_attacks", "prompt_leaking_attacks"):
            for item in value.values():
                rows.add(item.get("instruction") if isinstance(item, dict) else item, "injection",
                         "promptinject/attacks")
        elif name == "openai_playground_prompts":
            for item in value.values():
                if isinstance(item, dict):
                    rows.add(item.get("instruction"), "benign", "promptinject/playground")


def main():
    cache, out = Path(sys.argv[1]), Path(sys.argv[2])
    cache.mkdir(parents=True, exist_ok=True)
    yaml_wheel = ensure(cache, *PYYAML[:3], platform=True)
    sys.path.insert(0, str(yaml_wheel))
    import yaml  # noqa: E402  (from the pinned wheel)

    wheels = {req: ensure(cache, req, file, digest) for req, file, digest, _ in WHEELS}
    rows = Rows()
    with zipfile.ZipFile(wheels["pyrit==1.1.0"]) as zf:
        pyrit(zf, rows, yaml)
    with zipfile.ZipFile(wheels["promptshields==3.2.0"]) as zf:
        promptshields(zf, rows)
    with zipfile.ZipFile(wheels["inspect-evals==0.28.0"]) as zf:
        inspect_evals(zf, rows)
    with zipfile.ZipFile(wheels["promptbench==0.0.4"]) as zf:
        promptbench(zf, rows)
    with zipfile.ZipFile(wheels["promptinject==0.1.1.1"]) as zf:
        promptinject(zf, rows)
    ordered = sorted(rows.rows.values(), key=lambda r: r["id"])
    tmp = out.with_suffix(".partial")
    with open(tmp, "w") as f:
        for row in ordered:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(out)
    counts = {}
    for r in ordered:
        key = (r["split"], r["label"])
        counts[key] = counts.get(key, 0) + 1
    print("  injection eval set:", ", ".join(f"{s}/{l} {n}" for (s, l), n in sorted(counts.items())),
          f"(hard benign: {sum(r['hard'] for r in ordered)})")


if __name__ == "__main__":
    main()
