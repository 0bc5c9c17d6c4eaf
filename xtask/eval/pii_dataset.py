"""Builds Palisade's PII and secret evaluation split.

Run by `cargo xtask eval` (never by hand): `python3 pii_dataset.py CACHE OUT.jsonl`.

Values come from generators this project did not write, pinned by sha256 and imported
from their wheels:
- Faker (personal data: card numbers of every brand, US SSNs, e-mail addresses, IBANs of
  several countries, IPv4/IPv6 addresses, phone numbers of several countries, UUIDs,
  hashes, dates, EAN/ISBN codes, URLs);
- phonenumbers, the Python port of Google's libphonenumber, which decides whether a
  generated phone number is valid (a positive) or not (a look-alike negative);
- python-stdnum, an independent implementation of national ids' checks, which decides
  the same for ids drawn at random in their written forms (Australian TFN and ABN,
  Finnish HETU, Norwegian fødselsnummer, Swiss AHV, Mexican CURP, Chilean RUT,
  Brazilian CNPJ, Turkish TCKN, Romanian CNP, Polish NIP, Croatian OIB, Korean RRN,
  US EIN, Czech birth numbers), Bitcoin addresses (base58check and bech32 built here
  with `hashlib`) and MAC addresses: what it accepts is a positive, an id whose check
  it rejects is a look-alike negative.
Credentials in vendor formats (AWS, GitHub with its CRC32 checksum, Slack, Stripe,
Google, OpenAI, Anthropic, SendGrid, Azure AD client secrets, Discord webhooks, JWT,
PEM, connection URLs, URLs with user information, `Authorization` headers, Docker
config `auths`) are generated here from the vendors' published formats with Python's
own `random`, `binascii` and `base64`.

Each row: `{"id", "text", "entities": [{"type", "start", "end"}], "split", "negative"}`
with character offsets (code points). Rows with no entity are look-alike negatives:
UUIDs, git SHAs, digests, versions and OIDs, dates and times, order and tracking
numbers, Luhn-invalid card numbers, checksum-invalid IBANs, invalid phone numbers,
placeholders, URLs without credentials, public keys, and national ids and wallet
addresses whose check fails, in their own context sentences (`id_checksum_invalid`).
The split is fixed by each text's hash (`pinned.split_of`); everything is seeded, so
the set is the same on every machine.
"""

import base64
import binascii
import hashlib
import importlib
import json
import random
import re
import string
import sys
from datetime import date, datetime
from pathlib import Path

from pinned import ensure, split_of, stable_hash

WHEELS = [
    ("faker==37.12.0", "faker-37.12.0-py3-none-any.whl",
     "afe7ccc038da92f2fbae30d8e16d19d91e92e242f8401ce9caf44de892bab4c4"),
    ("phonenumbers==9.0.19", "phonenumbers-9.0.19-py2.py3-none-any.whl",
     "004abdfe2010518c2383f148515664a742e8a5d5540e07c049735c139d7e8b09"),
    ("python-stdnum==2.2", "python_stdnum-2.2-py3-none-any.whl",
     "bdf98fd117a0ca152e4047aa8ad254bae63853d4e915ddd4e0effb33ba0e9260"),
]
SEED = 20261126
PER_TYPE = 60
NEGATIVES_PER_KIND = 40
# The ids checked by python-stdnum and the newer credential formats: fewer of each, so the
# set stays small; they draw from their own generator, so the rows above are unchanged.
WORLD_PER_TYPE = 30
CHECKSUM_NEGATIVES = 40

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

# Ids drawn at random in their written forms and kept or rejected by python-stdnum
# (type: stdnum module). The context word stands right before the value; some ids whose
# form is distinctive enough are also written without one.
STDNUM_MODULES = {
    "AU_TFN": "au.tfn", "AU_ABN": "au.abn", "FI_HETU": "fi.hetu", "NO_FODSELSNUMMER": "no.fodselsnummer",
    "CH_AHV": "ch.ssn", "MX_CURP": "mx.curp", "CL_RUT": "cl.rut", "BR_CNPJ": "br.cnpj", "TR_TCKN": "tr.tckimlik",
    "RO_CNP": "ro.cnp", "PL_NIP": "pl.nip", "HR_OIB": "hr.oib", "KR_RRN": "kr.rrn", "US_EIN": "us.ein",
    "CZ_BIRTH_NUMBER": "cz.rc", "CRYPTO_WALLET": "bitcoin", "MAC_ADDRESS": "mac",
}

WORLD_TEMPLATES = {
    "AU_TFN": ["TFN: {v}", "Please quote your tax file number {v} on the form.",
               "Employee TFN {v} was lodged with the ATO."],
    "AU_ABN": ["ABN: {v}", "Invoice from Acme Pty Ltd, ABN {v}.", "Supplier ABN no. {v} is registered for GST."],
    "FI_HETU": ["henkilötunnus: {v}", "Asiakkaan henkilötunnus {v} on tarkistettu.",
                "Hakija {v} allekirjoitti sopimuksen."],
    "NO_FODSELSNUMMER": ["fødselsnummer: {v}", "Oppgi fødselsnummer {v} på skjemaet.",
                         "Pasientens fødselsnummer {v} er registrert."],
    "CH_AHV": ["AHV: {v}", "Numéro AVS {v}", "Die Versichertennummer lautet {v}."],
    "MX_CURP": ["CURP: {v}", "Mi CURP {v} está registrada.", "Adjunte la CURP {v} al expediente."],
    "CL_RUT": ["RUT: {v}", "Cliente con RUT {v} solicitó la factura.", "El RUT {v} figura en el contrato."],
    "BR_CNPJ": ["CNPJ: {v}", "Empresa inscrita no CNPJ {v}.", "Nota fiscal emitida para o CNPJ {v}."],
    "TR_TCKN": ["TC kimlik no: {v}", "Başvuru sahibinin TC kimlik no {v} olarak kayıtlı.",
                "Müşterinin TC kimlik no: {v}"],
    "RO_CNP": ["CNP: {v}", "Titularul are CNP {v} în buletin.", "Vă rugăm verificați CNP {v}."],
    "PL_NIP": ["NIP: {v}", "Faktura dla firmy o NIP {v}.", "Sprzedawca NIP {v}, Warszawa"],
    "HR_OIB": ["OIB: {v}", "Obveznik s OIB {v} podnio je prijavu.", "Upišite OIB {v} u obrazac."],
    "KR_RRN": ["주민등록번호: {v}", "신청인 주민등록번호 {v} 확인 바랍니다.", "주민등록번호 {v}를 입력하세요."],
    "US_EIN": ["EIN: {v}", "The company's EIN {v} is on the tax form.", "EIN no. {v} for the vendor setup."],
    "CZ_BIRTH_NUMBER": ["rodné číslo: {v}", "Pacient, rodné číslo {v}, byl přijat.", "Žadatel {v} podepsal smlouvu."],
    "CRYPTO_WALLET": ["Please send to {v} before Friday.", "wallet: {v}", "My wallet {v} received the payment."],
    "MAC_ADDRESS": ["MAC {v} joined the network.", "device {v} keeps dropping off the Wi-Fi.", "MAC: {v}"],
}

# Credential formats added with them; `{v}` is exactly the span the scanner reports (a
# URL's scheme to host, an Authorization header's token, a Docker config's base64 value).
CREDENTIAL_TEMPLATES = {
    "DISCORD_WEBHOOK_URL": ["DISCORD_WEBHOOK_URL={v}", "post the build status to {v}", "webhook: {v}"],
    "SENDGRID_API_KEY": ["SENDGRID_API_KEY={v}", "the mail key is {v}"],
    "AZURE_AD_CLIENT_SECRET": ["AZURE_CLIENT_SECRET={v}", "client secret for the app registration: {v}",
                               "az login --service-principal -u appid -p {v} --tenant contoso"],
    "URL_CREDENTIALS": ["git remote add origin {v}/acme/api.git", "proxy: {v}", "curl {v}/health"],
    "HTTP_AUTH_CREDENTIAL": ["Authorization: Bearer {v}",
                             'curl -H "Authorization: Bearer {v}" https://api.example.com/orders',
                             "GET /orders\nHost: api.example.com\nAuthorization: Bearer {v}"],
    "REGISTRY_AUTH": ['{"auths": {"registry.example.com": {"auth": "{v}"}}}',
                      '{\n  "auths": {\n    "ghcr.io": {\n      "auth": "{v}"\n    }\n  }\n}',
                      'cat ~/.docker/config.json\n{"auths": {"quay.io": {"auth": "{v}"}}}'],
}

HETU_CHECKS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
CONSONANTS = "BCDFGHJKLMNPQRSTVWXYZ"
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
CARD_SHAPE = re.compile(r"[0-9](?:[ -]?[0-9]){11,18}")


def digits(rng, n):
    return "".join(str(rng.randrange(10)) for _ in range(n))


def birth(rng, first, last):
    """A day between 1 January of `first` and 31 December of `last`."""
    return date.fromordinal(rng.randrange(date(first, 1, 1).toordinal(), date(last, 12, 31).toordinal() + 1))


def base58check(payload):
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n, out = int.from_bytes(data, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = BASE58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def bech32_polymod(values):
    generator = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= generator[i] if (top >> i) & 1 else 0
    return chk


def segwit_v0(program, hrp="bc"):
    """BIP 173: a version-0 witness program as a bech32 address."""
    acc, bits, data = 0, 0, [0]
    for byte in program:  # 8-bit groups to 5-bit groups, zero-padded
        acc, bits = acc << 8 | byte, bits + 8
        while bits >= 5:
            bits -= 5
            data.append(acc >> bits & 31)
    if bits:
        data.append(acc << (5 - bits) & 31)
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    mod = bech32_polymod(expanded + data + [0] * 6) ^ 1
    checksum = [mod >> 5 * (5 - i) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH32[d] for d in data + checksum)


def bitcoin_address(rng):
    """P2PKH (`1…`), P2SH (`3…`) or P2WPKH (`bc1q…`) for 20 random bytes."""
    kind = rng.randrange(3)
    if kind == 2:
        return segwit_v0(rng.randbytes(20))
    return base58check(bytes([0x00 if kind == 0 else 0x05]) + rng.randbytes(20))


def draw_id(rng, kind):
    """A candidate in the id's written form: its check may or may not hold."""
    if kind == "AU_TFN":
        return f"{digits(rng, 3)} {digits(rng, 3)} {digits(rng, 3)}"
    if kind == "AU_ABN":
        return f"{digits(rng, 2)} {digits(rng, 3)} {digits(rng, 3)} {digits(rng, 3)}"
    if kind == "FI_HETU":
        born = birth(rng, 1940, 2015)
        century = "-" if born.year < 2000 else "A"
        return f"{born:%d%m%y}{century}{rng.randrange(2, 900):03d}{rng.choice(HETU_CHECKS)}"
    if kind == "NO_FODSELSNUMMER":
        born = birth(rng, 1940, 2015)
        individual = rng.randrange(0, 500) if born.year < 2000 else rng.randrange(500, 1000)
        return f"{born:%d%m%y}{individual:03d}{digits(rng, 2)}"
    if kind == "CH_AHV":
        return f"756.{digits(rng, 4)}.{digits(rng, 4)}.{digits(rng, 2)}"
    if kind == "MX_CURP":
        born = birth(rng, 1940, 1999)
        return (rng.choice(string.ascii_uppercase) + rng.choice("AEIOU") + rand(rng, string.ascii_uppercase, 2)
                + f"{born:%y%m%d}" + rng.choice("HM") + rng.choice(["DF", "JC", "NL", "MC", "PL"])
                + rand(rng, CONSONANTS, 3) + digits(rng, 2))
    if kind == "CL_RUT":
        n = rng.randrange(10_000_000, 30_000_000)
        return f"{n // 1_000_000}.{n // 1000 % 1000:03d}.{n % 1000:03d}-{rng.choice(string.digits + 'K')}"
    if kind == "BR_CNPJ":
        return f"{digits(rng, 2)}.{digits(rng, 3)}.{digits(rng, 3)}/0001-{digits(rng, 2)}"
    if kind == "TR_TCKN":
        return str(rng.randrange(1, 10)) + digits(rng, 10)
    if kind == "RO_CNP":
        born = birth(rng, 1940, 1999)
        return f"{rng.choice('12')}{born:%y%m%d}{rng.choice(['01', '12', '40', '52'])}{digits(rng, 4)}"
    if kind == "PL_NIP":
        return f"{digits(rng, 3)}-{digits(rng, 3)}-{digits(rng, 2)}-{digits(rng, 2)}"
    if kind == "HR_OIB":
        return digits(rng, 11)
    if kind == "KR_RRN":
        born = birth(rng, 1940, 1999)
        return f"{born:%y%m%d}-{rng.choice('12')}{digits(rng, 6)}"
    if kind == "US_EIN":
        return f"{digits(rng, 2)}-{digits(rng, 7)}"
    if kind == "CZ_BIRTH_NUMBER":
        born = birth(rng, 1960, 2009)
        month = born.month + (50 if rng.random() < 0.5 else 0)  # women's months + 50
        return f"{born:%y}{month:02d}{born:%d}/{digits(rng, 4)}"
    if kind == "CRYPTO_WALLET":
        return bitcoin_address(rng)
    if kind == "MAC_ADDRESS":
        octets = bytearray(rng.randbytes(6))
        octets[0] &= 0xFE  # a device's own address is unicast
        text = rng.choice([":", "-"]).join(f"{o:02x}" for o in octets)
        return text.upper() if rng.random() < 0.5 else text
    raise ValueError(kind)


def corrupt(rng, address):
    """One character of a valid address replaced (the prefix kept): its checksum fails."""
    start = 4 if address.startswith("bc1") else 1
    alphabet = BECH32 if address.startswith("bc1") else BASE58
    i = rng.randrange(start, len(address))
    return address[:i] + rng.choice(alphabet.replace(address[i], "")) + address[i + 1:]


def credential(rng, kind, fk):
    if kind == "DISCORD_WEBHOOK_URL":
        return (f"https://discord.com/api/webhooks/{rng.randrange(1, 10)}{digits(rng, 17)}/"
                f"{rand(rng, ALNUM + '_-', 68)}")
    if kind == "SENDGRID_API_KEY":
        return f"SG.{rand(rng, ALNUM + '_-', 22)}.{rand(rng, ALNUM + '_-', 43)}"
    if kind == "AZURE_AD_CLIENT_SECRET":
        return f"{rand(rng, ALNUM, 3)}{rng.randrange(10)}Q~{rand(rng, ALNUM + '_~.-', 34)}"
    if kind == "URL_CREDENTIALS":
        return f"https://{fk.user_name()}:{rand(rng, ALNUM, 14)}@{fk.domain_name()}"
    if kind == "HTTP_AUTH_CREDENTIAL":
        return rand(rng, ALNUM + "_-", 32)
    if kind == "REGISTRY_AUTH":
        return base64.b64encode(f"{fk.user_name()}:{rand(rng, ALNUM, 16)}".encode()).decode()
    raise ValueError(kind)


def world_rows(rng, fk):
    """Rows for the ids python-stdnum checks and the newer credential formats: (text,
    entities, negative kind). Positives are what stdnum accepts; look-alikes are ids whose
    check stdnum rejects (an EIN has no check digit: an unassigned prefix), in the same
    context sentences, spread evenly over the types (not MAC addresses: stdnum rejects
    those only for an unregistered maker prefix, and such an address is still one)."""
    from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError

    rows = []

    def row(kind, templates, i, v, negative_kind=None):
        text = templates[i % len(templates)].replace("{v}", v)
        start = text.index(v)
        # The value is the text's only entity: no other digits in the sentence.
        assert not any(c.isdigit() for c in text[:start] + text[start + len(v):]), text
        entities = [] if negative_kind else [{"type": kind, "start": start, "end": start + len(v)}]
        rows.append((text, entities, negative_kind))

    def rejected_for_check(module, kind, v):
        try:
            module.validate(v)
        except InvalidChecksum:
            return True
        except InvalidComponent:
            return kind == "US_EIN"
        except ValidationError:
            return False
        return False

    negative_types = [k for k in WORLD_TEMPLATES if k != "MAC_ADDRESS"]
    quota = {k: CHECKSUM_NEGATIVES // len(negative_types) + (i < CHECKSUM_NEGATIVES % len(negative_types))
             for i, k in enumerate(negative_types)}
    for kind, templates in WORLD_TEMPLATES.items():
        module = importlib.import_module("stdnum." + STDNUM_MODULES[kind])
        positives, negatives = [], []
        while len(positives) < WORLD_PER_TYPE or len(negatives) < quota.get(kind, 0):
            v = draw_id(rng, kind)
            if kind == "CRYPTO_WALLET" and len(negatives) < quota[kind] and rng.random() < 0.5:
                v = corrupt(rng, v)
            # A run of 12 to 19 digits passing Luhn is a card number too: not one entity.
            if CARD_SHAPE.fullmatch(v) and luhn_ok(re.sub("[ -]", "", v)):
                continue
            if module.is_valid(v):
                if kind == "MAC_ADDRESS":
                    # Not the all-zero or broadcast address; and as many addresses with a
                    # maker's registered prefix as locally administered ones (stdnum accepts
                    # every one of these, and few random maker prefixes are registered).
                    octets = v.lower().replace("-", ":")
                    if octets in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"):
                        continue
                    if (int(octets[:2], 16) & 2 == 2) != (len(positives) % 2 == 1):
                        continue
                if len(positives) < WORLD_PER_TYPE:
                    positives.append(v)
            elif len(negatives) < quota.get(kind, 0) and rejected_for_check(module, kind, v):
                negatives.append(v)
        for i, v in enumerate(positives):
            row(kind, templates, i, v)
        for i, v in enumerate(negatives):
            row(kind, templates, i, v, "id_checksum_invalid")
    for kind, templates in CREDENTIAL_TEMPLATES.items():
        for i in range(WORLD_PER_TYPE):
            row(kind, templates, i, credential(rng, kind, fk))
    return rows


def main():
    cache, out = Path(sys.argv[1]), Path(sys.argv[2])
    cache.mkdir(parents=True, exist_ok=True)
    for requirement, file, digest in WHEELS:
        sys.path.insert(0, str(ensure(cache, requirement, file, digest)))
    import faker  # noqa: E402  (from the pinned wheel)
    import phonenumbers  # noqa: E402
    import stdnum  # noqa: E402, F401  (checked by `world_rows`)

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
    world_faker = faker.Faker("en_US")
    world_faker.seed_instance(SEED + 100)
    for text, entities, negative_kind in world_rows(random.Random(SEED + 1), world_faker):
        add(text, entities, negative_kind)

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
