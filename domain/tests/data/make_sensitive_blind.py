"""Adds a second blind part to sensitive_corpus.json.

The first blind part (split "blind" in the file as make_sensitive_corpus.py wrote it) was
looked at: its false alarms (base64 data-URI payloads) led to a change of the detector. So it
is renamed "seen" here (reported, never a threshold), with two generator bugs mended on the
way: label names that the detector never used (`database_url` is `connection_string`,
`sensitive_path` is `sensitive_file`) and 16-digit "cards" starting with 37 (no network
issues those; they are dropped). A new "blind" part is then generated after that change, from
other sources than the first, and was not used to change the detector.

Run: python3 make_sensitive_blind.py <cargo registry src dir> <Cargo.lock>
"""
import base64, glob, hashlib, json, os, random, re, sys, uuid

here = os.path.dirname(os.path.abspath(__file__))
path = os.path.join(here, "sensitive_corpus.json")
registry, lock = sys.argv[1], sys.argv[2]
corpus = json.load(open(path))
if any(e["split"] == "seen" for e in corpus):
    sys.exit("already done: the file has a 'seen' part")

kept = []
for e in corpus:
    if e["split"] == "blind":
        e["split"] = "seen"
        e["id"] = e["id"].replace("blind-", "seen-", 1)
        e["kinds"] = [{"database_url": "connection_string", "sensitive_path": "sensitive_file"}.get(k, k) for k in e["kinds"]]
        card = re.search(r"charge card (\d+)", e["text"])
        if card and card.group(1).startswith("37") and len(card.group(1)) == 16:
            continue
    kept.append(e)
corpus = kept

rng = random.Random(2026)
def add(label, text, kinds=()):
    n = len([o for o in corpus if o["split"] == "blind" and o["label"] == label])
    corpus.append({"id": f"blind-{label}-{n}", "split": "blind", "label": label, "kinds": list(kinds), "text": text})

# Clean: other crates' READMEs than the first part (which took every 3rd from the first).
readmes = sorted(glob.glob(os.path.join(registry, "*", "README.md")))[1::3]
for p in readmes:
    text = open(p, encoding="utf-8", errors="replace").read()
    paras = [q.strip() for q in re.split(r"\n\s*\n", text) if len(q.strip()) > 200]
    if len(paras) > 1:
        add("clean", paras[1][:1500])
    if len([o for o in corpus if o["split"] == "blind" and o["label"] == "clean"]) >= 150:
        break
lines = [l for l in open(lock).read().splitlines() if l.strip()]
for i in range(6, min(len(lines), 6 + 30 * 12), 12):
    add("clean", "\n".join(lines[i:i + 12]))
crock = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
def r(chars, n): return "".join(rng.choice(chars) for _ in range(n))
mimes = ["image/png", "image/jpeg", "image/webp", "image/gif", "image/svg+xml", "font/woff2", "application/pdf"]
for _ in range(10):
    add("clean", json.dumps({"id": r(crock, 26), "trace_id": uuid.UUID(int=rng.getrandbits(128)).hex, "status": "ok"}))
    add("clean", f"docker pull registry.example.com/app@sha256:{hashlib.sha256(str(rng.random()).encode()).hexdigest()}")
    blob = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(rng.randint(24, 180)))).decode()
    add("clean", f'<img alt="preview" src="data:{rng.choice(mimes)};base64,{blob}">')
    add("clean", json.dumps({"type": "resource", "resource": {"uri": "file:///tmp/x", "blob": "data:" + rng.choice(mimes) + ";base64," + blob}}))
    add("clean", "integrity sha512-" + base64.b64encode(hashlib.sha512(str(rng.random()).encode()).digest()).decode())

# Secrets: documented formats with random values, in other sentences than the first part.
up = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
def luhn(prefix, length):
    digits = [int(c) for c in prefix] + [rng.randint(0, 9) for _ in range(length - len(prefix) - 1)]
    for check in range(10):
        ds = digits + [check]
        total = sum((d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 == 1 else d for i, d in enumerate(reversed(ds)))
        if total % 10 == 0:
            return "".join(map(str, ds))
for _ in range(3):
    add("secret", f'{{"aws": {{"key": "AKIA{r(up, 16)}"}}}}', ["aws_access_key"])
    add("secret", f"git remote set-url origin https://x:ghp_{r(alnum, 36)}@github.com/a/b", ["github_token"])
    add("secret", f"GITLAB_TOKEN=glpat-{r(alnum, 20)}", ["gitlab_token"])
    add("secret", f"client = Anthropic(api_key='sk-ant-api03-{r(alnum, 93)}AA')", ["anthropic_key"])
    add("secret", f"redis url: redis://default:{r(alnum, 20)}@cache.internal:6379/0", ["connection_string"])
    add("secret", f"paid with {luhn('4', 16)}, thanks", ["credit_card"])
    add("secret", f"amex on file: {luhn(rng.choice(['34', '37']), 15)}", ["credit_card"])
    add("secret", f"cat /etc/shadow | head", ["sensitive_file"])
    add("secret", f"SENDGRID_API_KEY=SG.{r(alnum, 22)}.{r(alnum, 43)}", ["sendgrid_key"])
    add("secret", f"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA{r(alnum, 50)}\n-----END OPENSSH PRIVATE KEY-----", ["private_key"])

json.dump(corpus, open(path, "w"), indent=1, ensure_ascii=False)
print(len(corpus), "entries")
