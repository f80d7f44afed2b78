#!/usr/bin/env python3
"""bench/tokens.py DB_URL USERNAME COUNT KEYS_OUT [KEEP]

Inserts COUNT API tokens for USERNAME straight into auth_tokens (as the framework stores
them: SHA-256 digest and 8-character prefix; the key itself is not stored) and writes the
first KEEP keys (default all) to KEYS_OUT, one per line, for report.lua. SQLite through
Python's sqlite3, PostgreSQL through psql's COPY. Fixture generation only: the framework's
own path to create a token is `example-app create-token`.
"""
import hashlib, os, subprocess, sqlite3, sys, datetime

url, username, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
keep = int(sys.argv[5]) if len(sys.argv) > 5 else count
now = datetime.datetime.now(datetime.timezone.utc)

def rows():
    with open(out, "w") as keys:
        for i in range(count):
            key = os.urandom(32).hex()
            if i < keep:
                keys.write(key + "\n")
            yield user_id, hashlib.sha256(key.encode()).hexdigest(), key[:8]

if url.startswith("sqlite:"):
    path = url.split("://", 1)[1].split("?", 1)[0]
    db = sqlite3.connect(path)
    user_id = db.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()[0]
    # The framework's own format for timestamps in SQLite (sea-orm / sqlx chrono).
    created = now.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    db.executemany(
        "INSERT INTO auth_tokens (user_id, digest, prefix, created_at) VALUES (?, ?, ?, ?)",
        ((u, d, p, created) for (u, d, p) in rows()),
    )
    db.commit()
else:
    created = now.isoformat()
    user_id = int(subprocess.check_output(
        ["psql", url, "-Atc", f"SELECT id FROM users WHERE username = '{username}'"], text=True).strip())
    proc = subprocess.Popen(
        ["psql", url, "-q", "-c", "COPY auth_tokens (user_id, digest, prefix, created_at) FROM STDIN"],
        stdin=subprocess.PIPE, text=True)
    for (u, d, p) in rows():
        proc.stdin.write(f"{u}\t{d}\t{p}\t{created}\n")
    proc.stdin.close()
    if proc.wait() != 0:
        sys.exit("COPY failed")
