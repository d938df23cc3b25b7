"""Seeds N assets into a stack directly in perma's SQLite database (perma must be stopped).

All assets share one blob (content addressing: same bytes, one file on disk), each has its
own file row and permanent URL. Prints one permanent-URL path per line.
Usage: seed.py DB_PATH API_KEY USER_UID SHA256 SIZE COUNT PREFIX
"""
import secrets
import sqlite3
import sys
import time

db, api_key, user, sha, size, count, prefix = sys.argv[1:8]
size, count = int(size), int(count)
now = int(time.time() * 1000)
con = sqlite3.connect(db)
con.execute("PRAGMA journal_mode=WAL")
paths = []
with con:
    for i in range(count):
        uid = "blt" + secrets.token_hex(8)
        file_uid = secrets.token_hex(12)
        slug = f"{prefix}-{i}.bin"
        con.execute(
            "INSERT INTO assets (uid, api_key, is_dir, parent_uid, title, description, tags, file_uid, version, "
            "permanent_slug, created_by, updated_by, created_at, updated_at) VALUES (?,?,0,NULL,?, '', '[]', ?, 2, ?, ?, ?, ?, ?)",
            (uid, api_key, slug, file_uid, slug, user, user, now, now),
        )
        con.execute(
            "INSERT INTO files (uid, asset_uid, sha256, size, content_type, filename, width, height, created_at) "
            "VALUES (?,?,?,?, 'application/octet-stream', ?, NULL, NULL, ?)",
            (file_uid, uid, sha, size, slug, now),
        )
        for v, action in ((1, "upload"), (2, "permanent_url")):
            con.execute(
                "INSERT INTO asset_versions (asset_uid, version, file_uid, title, description, tags, parent_uid, "
                "action, created_by, created_at) VALUES (?,?,?,?, '', '[]', NULL, ?, ?, ?)",
                (uid, v, file_uid, slug, action, user, now),
            )
        paths.append(f"/v3/assets/{api_key}/{uid}/{slug}")
con.close()
print("\n".join(paths))
