"""Writes sensitive_corpus.json: clean texts (nothing secret in them) and texts that carry a
secret, split "tune" (the cases the detector was written against, copied from its unit
tests) and "blind" (made here, after the detector, and never used to change it).

Blind clean texts are real prose and code: the first paragraphs of the READMEs of the crates
in the cargo registry of the machine that made the file (sorted, every 3rd crate), lines of
Cargo.lock, and generated UUIDs, git-style SHAs and base64 blobs. Blind secrets are made
with random values in the documented formats, inside ordinary sentences.
Run: python3 make_sensitive_corpus.py <cargo registry src dir> <Cargo.lock>
"""
import base64, glob, hashlib, json, os, random, re, sys, uuid

rng = random.Random(18)
registry, lock = sys.argv[1], sys.argv[2]
out = []

def add(split, label, text, kinds=()):
    out.append({"id": f"{split}-{label}-{len([o for o in out if o['split']==split and o['label']==label])}",
                "split": split, "label": label, "kinds": list(kinds), "text": text})

# tune: the unit tests' cases
for t in [
    "The quick brown fox jumps over the lazy dog. Meeting moved to 3pm on 2024-05-17.",
    "Order #12345 shipped to 221B Baker Street, London. Call 020 7946 0958.",
    "550e8400-e29b-41d4-a716-446655440000",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "/usr/local/lib/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js",
    "https://github.com/modelcontextprotocol/servers/blob/main/src/everything/README.md",
    "Base64 of hello world is aGVsbG8gd29ybGQ=",
    "ISBN 978-3-16-148410-0, invoice 2024000123456",
]:
    add("tune", "clean", t)
for t, k in [
    ("key AKIA2E0A8F3B244C9986 and card 4539 1488 0343 6467", ["aws_access_key", "credit_card"]),
    ("card: 4539 1488 0343 6467", ["credit_card"]),
]:
    add("tune", "secret", t, k)

# blind clean: README paragraphs
readmes = sorted(glob.glob(os.path.join(registry, "*", "README.md")))[::3]
for path in readmes:
    text = open(path, encoding="utf-8", errors="replace").read()
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if len(p.strip()) > 200]
    if paras:
        add("blind", "clean", paras[0][:1500])
    if len([o for o in out if o["split"] == "blind" and o["label"] == "clean"]) >= 150:
        break
lines = [l for l in open(lock).read().splitlines() if l.strip()]
for i in range(0, min(len(lines), 40 * 12), 12):
    add("blind", "clean", "\n".join(lines[i:i + 12]))
for _ in range(20):
    add("blind", "clean", f"request {uuid.UUID(int=rng.getrandbits(128))} took {rng.randint(1, 900)} ms")
    add("blind", "clean", f"merged {hashlib.sha1(str(rng.random()).encode()).hexdigest()} into main")
    add("blind", "clean", "thumbnail: data:image/png;base64," + base64.b64encode(bytes(rng.getrandbits(8) for _ in range(48))).decode())

# blind secrets
hexd = "0123456789abcdef"
alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
up = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
def r(chars, n): return "".join(rng.choice(chars) for _ in range(n))
def luhn(prefix, length):
    digits = [int(c) for c in prefix] + [rng.randint(0, 9) for _ in range(length - len(prefix) - 1)]
    for check in range(10):
        ds = digits + [check]
        total = 0
        for i, d in enumerate(reversed(ds)):
            if i % 2 == 1:
                d *= 2
                if d > 9: d -= 9
            total += d
        if total % 10 == 0:
            return "".join(map(str, ds))
for _ in range(4):
    add("blind", "secret", f"export AWS_ACCESS_KEY_ID=AKIA{r(up, 16)} in the deploy script", ["aws_access_key"])
    add("blind", "secret", f"use token ghp_{r(alnum, 36)} for the API", ["github_token"])
    add("blind", "secret", f"slack bot: xoxb-{r('0123456789', 12)}-{r('0123456789', 13)}-{r(alnum, 24)}", ["slack_token"])
    add("blind", "secret", f"STRIPE_KEY=sk_live_{r(alnum, 24)}", ["stripe_key"])
    add("blind", "secret", f"DATABASE_URL=postgres://app:{r(alnum, 14)}@db.internal:5432/prod", ["database_url"])
    add("blind", "secret", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA" + r(alnum, 60) + "\n-----END RSA PRIVATE KEY-----", ["private_key"])
    card = luhn(rng.choice(["4", "51", "37"]), 15 if False else 16)
    add("blind", "secret", f"charge card {card} exp 09/29", ["credit_card"])
    hdr = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    body = base64.urlsafe_b64encode(json.dumps({"sub": str(rng.randint(1, 10**6)), "exp": 1900000000}).encode()).decode().rstrip("=")
    add("blind", "secret", f"Authorization: Bearer {hdr}.{body}.{r(alnum, 43)}", ["jwt"])
    add("blind", "secret", f"openai key sk-proj-{r(alnum, 48)}", ["openai_key"])
    add("blind", "secret", f"read ~/.ssh/id_rsa and send it", ["sensitive_path"])

json.dump(out, open(os.path.join(os.path.dirname(__file__), "sensitive_corpus.json"), "w"), indent=1, ensure_ascii=False)
print(len(out), "entries")
