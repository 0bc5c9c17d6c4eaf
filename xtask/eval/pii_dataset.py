"""Builds Palisade's PII and secret evaluation split.

Run by `cargo xtask eval` (never by hand): `python3 pii_dataset.py CACHE OUT.jsonl`.

Values come from generators this project did not write, pinned by sha256 and imported
from their wheels:
- Faker (personal data: card numbers of every brand, US SSNs, e-mail addresses, IBANs of
  several countries, IPv4/IPv6 addresses, phone numbers of several countries, UUIDs,
  hashes, dates, EAN/ISBN codes, URLs);
- phonenumbers, the Python port of Google's libphonenumber, which decides whether a
  generated phone number is valid (a positive) or not (a look-alike negative).
Credentials in vendor formats (AWS, GitHub with its CRC32 checksum, Slack, Stripe,
Google, OpenAI, Anthropic, JWT, PEM, connection URLs) are generated here from the
vendors' published formats with Python's own `random`, `binascii` and `base64`.

Each row: `{"id", "text", "entities": [{"type", "start", "end"}], "split", "negative"}`
with character offsets (code points). Rows with no entity are look-alike negatives:
UUIDs, git SHAs, digests, versions and OIDs, dates and times, order and tracking
numbers, Luhn-invalid card numbers, checksum-invalid IBANs, invalid phone numbers,
placeholders, URLs without credentials, public keys. The split is fixed by each text's
hash (`pinned.split_of`); everything is seeded, so the set is the same on every machine.
"""

import base64
import binascii
import json
import random
import string
import sys
from datetime import datetime
from pathlib import Path

from pinned import ensure, split_of, stable_hash

WHEELS = [
    ("faker==37.12.0", "faker-37.12.0-py3-none-any.whl",
     "afe7ccc038da92f2fbae30d8e16d19d91e92e242f8401ce9caf44de892bab4c4"),
    ("phonenumbers==9.0.19", "phonenumbers-9.0.19-py2.py3-none-any.whl",
     "004abdfe2010518c2383f148515664a742e8a5d5540e07c049735c139d7e8b09"),
]
SEED = 20261126
PER_TYPE = 60
NEGATIVES_PER_KIND = 40

B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
ALNUM = string.ascii_letters + string.digits


def rand(rng, alphabet, n):
    return "".join(rng.choice(alphabet) for _ in range(n))


def github_token(rng, prefix="ghp_"):
    body = rand(rng, ALNUM, 30)
    crc = binascii.crc32(body.encode())
    check = ""
    for _ in range(6):
        check = B62[crc % 62] + check
        crc //= 62
    return prefix + body + check


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(rng):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": rand(rng, ALNUM, 10), "iat": rng.randrange(1_600_000_000, 1_800_000_000)}).encode())
    return f"{header}.{payload}.{b64url(rng.randbytes(32))}"


def pem(rng):
    lines = [base64.b64encode(rng.randbytes(48)).decode() for _ in range(4)]
    return "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END RSA PRIVATE KEY-----"


def card_layout(rng, number):
    style = rng.randrange(3)
    if style == 0 or len(number) not in (15, 16):
        return number
    sep = " " if style == 1 else "-"
    if len(number) == 15:  # Amex: 4-6-5
        return sep.join([number[:4], number[4:10], number[10:]])
    return sep.join(number[i:i + 4] for i in range(0, 16, 4))


def dni(rng):
    n = rng.randrange(10_000_000, 100_000_000)
    return f"{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}"


def cpf(rng):
    digits = [rng.randrange(10) for _ in range(9)]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(digits, range(length + 1, 1, -1)))
        rest = (total * 10) % 11
        digits.append(0 if rest == 10 else rest)
    s = "".join(map(str, digits))
    return f"{s[:3]}.{s[3:6]}.{s[6:9]}-{s[9:]}"


VERHOEFF_D = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
              [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
              [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
              [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
VERHOEFF_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
              [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
              [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]
VERHOEFF_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def aadhaar(rng):
    body = str(rng.randrange(2, 10)) + "".join(str(rng.randrange(10)) for _ in range(10))
    c = 0
    for i, ch in enumerate(reversed(body)):
        c = VERHOEFF_D[c][VERHOEFF_P[(i + 1) % 8][int(ch)]]
    n = body + str(VERHOEFF_INV[c])
    return f"{n[:4]} {n[4:8]} {n[8:]}"


def luhn_ok(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(iban):
    compact = iban.replace(" ", "")
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


TEMPLATES = {
    "CREDIT_CARD": ["Please charge card {v} for the renewal.", "card number: {v}, expiry 09/27",
                    "I paid with {v} yesterday, can you check?"],
    "US_SSN": ["SSN {v} is on the form.", "My social security number is {v}."],
    "EMAIL_ADDRESS": ["Write to {v} about the invoice.", "contact: {v}", "Forward it to {v}, thanks!"],
    "IBAN_CODE": ["Transfer the deposit to IBAN {v} please.", "Bank account: {v}"],
    "IP_ADDRESS": ["The login came from {v} at night.", "server {v} stopped answering"],
    "PHONE_NUMBER": ["Call me on {v} after five.", "phone: {v}", "You can reach the office at {v}."],
    "AWS_ACCESS_KEY_ID": ["aws_access_key_id = {v}", "The key {v} showed up in the build log."],
    "AWS_SECRET_ACCESS_KEY": ["aws_secret_access_key = {v}", "AWS_SECRET_ACCESS_KEY={v}"],
    "GITHUB_TOKEN": ["token {v}", "GITHUB_TOKEN={v}", "I pasted {v} by mistake"],
    "SLACK_TOKEN": ["SLACK_BOT_TOKEN={v}", "use {v} for the bot"],
    "SLACK_WEBHOOK_URL": ["webhook: {v}", "POST the alert to {v}"],
    "STRIPE_KEY": ["STRIPE_SECRET_KEY={v}", "the live key is {v}"],
    "GOOGLE_API_KEY": ["GOOGLE_API_KEY={v}", "maps key {v}"],
    "OPENAI_API_KEY": ["OPENAI_API_KEY={v}", "export OPENAI_API_KEY=\"{v}\""],
    "ANTHROPIC_API_KEY": ["ANTHROPIC_API_KEY={v}", "my key is {v}"],
    "JWT": ["Authorization: Bearer {v}", "the session token {v} expired"],
    "PRIVATE_KEY": ["Here is the key:\n{v}\nkeep it safe", "{v}"],
    "DB_CONNECTION_STRING": ["DATABASE_URL={v}", "connect with {v}"],
    "SECRET": ["client_secret = \"{v}\"", "api_key: {v}"],
    "GITLAB_TOKEN": ["CI token {v}", "GITLAB_TOKEN={v}"],
    "HUGGINGFACE_TOKEN": ["HF_TOKEN={v}", "use {v} to pull the model"],
    "NPM_TOKEN": ["//registry.npmjs.org/:_authToken={v}"],
    "ES_NIF": ["DNI {v}, nacido en Madrid", "NIF: {v}"],
    "BR_CPF": ["CPF {v} cadastrado", "meu CPF é {v}"],
    "IN_AADHAAR": ["Aadhaar: {v}", "my aadhaar number is {v}"],
}

NEGATIVE_TEMPLATES = ["Reference {v} in the ticket.", "See {v} for details.", "value: {v}"]


def main():
    cache, out = Path(sys.argv[1]), Path(sys.argv[2])
    cache.mkdir(parents=True, exist_ok=True)
    for requirement, file, digest in WHEELS:
        sys.path.insert(0, str(ensure(cache, requirement, file, digest)))
    import faker  # noqa: E402  (from the pinned wheel)
    import phonenumbers  # noqa: E402

    rng = random.Random(SEED)
    fakers = {}

    def fake(locale):
        if locale not in fakers:
            fakers[locale] = faker.Faker(locale)
            fakers[locale].seed_instance(SEED + len(fakers))
        return fakers[locale]

    phone_locales = [("en_US", "US"), ("en_GB", "GB"), ("de_DE", "DE"), ("fr_FR", "FR"), ("es_ES", "ES"),
                     ("it_IT", "IT"), ("nl_NL", "NL"), ("en_AU", "AU"), ("pt_BR", "BR"), ("en_IN", "IN")]
    valid_phones, invalid_phones = [], []
    while len(valid_phones) < PER_TYPE or len(invalid_phones) < NEGATIVES_PER_KIND:
        locale, region = rng.choice(phone_locales)
        number = fake(locale).phone_number()
        try:
            parsed = phonenumbers.parse(number, region)
            valid = phonenumbers.is_valid_number(parsed)
        except phonenumbers.NumberParseException:
            valid = False
        if "x" in number.lower():  # extensions are not part of the number's span
            continue
        (valid_phones if valid else invalid_phones).append(number)

    def value(kind):
        f = fake("en_US")
        if kind == "CREDIT_CARD":
            brand = rng.choice(["visa", "mastercard", "amex", "discover", "jcb", "diners", "maestro", "visa16"])
            return card_layout(rng, f.credit_card_number(brand))
        if kind == "US_SSN":
            return f.ssn()
        if kind == "EMAIL_ADDRESS":
            return rng.choice([f.email(), fake("de_DE").email(), fake("fr_FR").company_email()])
        if kind == "IBAN_CODE":
            iban = fake(rng.choice(["de_DE", "fr_FR", "en_GB", "es_ES", "it_IT", "nl_NL"])).iban()
            return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.5 else iban
        if kind == "IP_ADDRESS":
            return f.ipv4_public() if rng.random() < 0.6 else f.ipv6()
        if kind == "PHONE_NUMBER":
            return valid_phones.pop()
        if kind == "AWS_ACCESS_KEY_ID":
            return "AKIA" + rand(rng, string.ascii_uppercase + "234567", 16)
        if kind == "AWS_SECRET_ACCESS_KEY":
            return rand(rng, ALNUM + "+/", 40)
        if kind == "GITHUB_TOKEN":
            return github_token(rng, rng.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]))
        if kind == "SLACK_TOKEN":
            return f"xoxb-{rng.randrange(10**11, 10**12)}-{rng.randrange(10**12, 10**13)}-{rand(rng, ALNUM, 24)}"
        if kind == "SLACK_WEBHOOK_URL":
            return (f"https://hooks.slack.com/services/T{rand(rng, string.ascii_uppercase + string.digits, 8)}"
                    f"/B{rand(rng, string.ascii_uppercase + string.digits, 8)}/{rand(rng, ALNUM, 24)}")
        if kind == "STRIPE_KEY":
            return rng.choice(["sk_live_", "rk_live_"]) + rand(rng, ALNUM, 24)
        if kind == "GOOGLE_API_KEY":
            return "AIza" + rand(rng, ALNUM + "-_", 35)
        if kind == "OPENAI_API_KEY":
            return rng.choice(["sk-proj-", "sk-svcacct-"]) + rand(rng, ALNUM + "-_", 64)
        if kind == "ANTHROPIC_API_KEY":
            return "sk-ant-api03-" + rand(rng, ALNUM + "-_", 93) + "AA"
        if kind == "JWT":
            return jwt(rng)
        if kind == "PRIVATE_KEY":
            return pem(rng)
        if kind == "SECRET":
            return rand(rng, ALNUM, 28)
        if kind == "GITLAB_TOKEN":
            return "glpat-" + rand(rng, ALNUM + "_-", 20)
        if kind == "HUGGINGFACE_TOKEN":
            return "hf_" + rand(rng, string.ascii_letters, 34)
        if kind == "NPM_TOKEN":
            return "npm_" + rand(rng, ALNUM, 36)
        if kind == "ES_NIF":
            return dni(rng)
        if kind == "BR_CPF":
            return cpf(rng)
        if kind == "IN_AADHAAR":
            return aadhaar(rng)
        if kind == "DB_CONNECTION_STRING":
            scheme = rng.choice(["postgresql", "mysql", "mongodb+srv", "redis"])
            return f"{scheme}://{f.user_name()}:{rand(rng, ALNUM, 14)}@{f.domain_name()}:5432/{f.word()}"
        raise ValueError(kind)

    def negative(kind):
        f = fake("en_US")
        if kind == "uuid":
            return f.uuid4()
        if kind == "git_sha":
            return f.sha1() if rng.random() < 0.5 else f.sha1()[:7]
        if kind == "digest":
            return f.sha256()
        if kind == "version":
            return f"{rng.randrange(0, 20)}.{rng.randrange(0, 40)}.{rng.randrange(0, 200)}"
        if kind == "oid":
            return "1.3.6.1.4.1." + ".".join(str(rng.randrange(1, 60000)) for _ in range(3))
        if kind == "datetime":
            # Fixed bounds: Faker's defaults end "now", which would change the set daily.
            moment = f.date_time_between(start_date=datetime(1970, 1, 1), end_date=datetime(2025, 1, 1))
            return moment.isoformat() if rng.random() < 0.5 else moment.strftime("%d/%m/%Y")
        if kind == "order":
            return f"{rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}"
        if kind == "tracking":
            return "1Z" + rand(rng, string.ascii_uppercase + string.digits, 16)
        if kind == "luhn_invalid_card":
            while True:
                number = f.credit_card_number(rng.choice(["visa16", "mastercard", "amex"]))
                broken = number[:-1] + str((int(number[-1]) + rng.randrange(1, 10)) % 10)
                if not luhn_ok(broken):
                    return card_layout(rng, broken)
        if kind == "iban_invalid":
            while True:
                iban = fake(rng.choice(["de_DE", "fr_FR", "en_GB"])).iban()
                i = rng.randrange(4, len(iban) - 1)
                broken = iban[:i] + iban[i + 1] + iban[i] + iban[i + 2:]
                if broken != iban and not iban_ok(broken):
                    return broken
        if kind == "phone_invalid":
            return invalid_phones.pop()
        if kind == "placeholder":
            return rng.choice(["<your-api-key>", "${{ secrets.STRIPE_KEY }}", "sk_live_xxxxxxxxxxxxxxxxxxxxxxxx",
                               "AKIAXXXXXXXXXXXXXXXX", "{{ api_token }}", "%GITHUB_TOKEN%", "ghp_<your token here>"])
        if kind == "url":
            return f.url() + f.uri_path()
        if kind == "public_key":
            return "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + rand(rng, ALNUM + "+/", 43) + " " + f.user_name() + "@host"
        if kind == "ean":
            return f.ean13() if rng.random() < 0.5 else f.isbn13()
        if kind == "spaced_order":
            return " ".join(str(rng.randrange(1000, 10000)) for _ in range(3))
        if kind == "cue_words":
            # Telephone and password words in ordinary sentences.
            return rng.choice([
                f"Intel Core i7-{rng.randrange(10000, 14999)}", f"Hotel room {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}",
                f"headphones SKU {rng.randrange(10**7, 10**8)}", f"cell count {rng.randrange(10**5, 10**6)} per ml",
                "Password: Required", f"PWD=/home/{f.user_name()}/app", f"{f.user_name()} ALL=(ALL) NOPASSWD: /usr/bin/systemctl",
                f"microphone model {rng.randrange(1990, 2030)} {rng.randrange(1000, 9999)}",
            ])
        raise ValueError(kind)

    rows = {}

    def add(text, entities, negative_kind=None):
        key = stable_hash(text)
        if key in rows:
            return
        rows[key] = {"id": key[:16], "text": text, "entities": entities, "split": split_of(text),
                     "negative": negative_kind}

    for kind, templates in TEMPLATES.items():
        for i in range(PER_TYPE):
            v = value(kind)
            template = templates[i % len(templates)]
            text = template.replace("{v}", v)
            start = text.index(v)
            add(text, [{"type": kind, "start": start, "end": start + len(v)}])
    negative_kinds = ["uuid", "git_sha", "digest", "version", "oid", "datetime", "order", "tracking",
                      "luhn_invalid_card", "iban_invalid", "phone_invalid", "placeholder", "url", "public_key", "ean",
                      "spaced_order", "cue_words"]
    for kind in negative_kinds:
        for i in range(NEGATIVES_PER_KIND):
            add(NEGATIVE_TEMPLATES[i % len(NEGATIVE_TEMPLATES)].replace("{v}", negative(kind)), [], kind)

    ordered = sorted(rows.values(), key=lambda r: r["id"])
    tmp = out.with_suffix(".partial")
    with open(tmp, "w") as f:
        for row in ordered:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(out)
    positives = sum(1 for r in ordered if r["entities"])
    print(f"  pii eval set: {len(ordered)} texts, {positives} with an entity, {len(ordered) - positives} look-alikes")


if __name__ == "__main__":
    main()
