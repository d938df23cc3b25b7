"""Seeds N assets into a stack directly in perma's database (perma must be stopped).

All assets share one blob (content addressing: same bytes, one file on disk); each has its
own file row, two versions, a permanent URL, one tag (t-{i % 1000}), one of four content
types and a distinct creation time, so that listing, filters and delivery have realistic
work to do. Prints one permanent-URL path per line.

Usage: seed.py DB API_KEY USER_UID SHA256 SIZE COUNT PREFIX
  DB: a SQLite file (rows inserted in one transaction, listing indexes rebuilt after), or
      a postgres:// URL (rows loaded with COPY through psql).
Works with every schema version perma has had (it fills the listing columns of schema 2
when they exist).
"""
import io
import secrets
import sqlite3
import subprocess
import sys
import time

db, api_key, user, sha, size, count, prefix = sys.argv[1:8]
size, count = int(size), int(count)
now = int(time.time() * 1000)
TYPES = ["application/octet-stream", "image/png", "application/pdf", "video/mp4"]


def rows():
    for i in range(count):
        uid = "blt" + secrets.token_hex(8)
        file_uid = secrets.token_hex(12)
        slug = f"{prefix}-{i}.bin"
        yield i, uid, file_uid, slug, TYPES[i % len(TYPES)], f"t-{i % 1000}", now - count + i


def seed_sqlite():
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    cols = {r[1] for r in con.execute("PRAGMA table_info(assets)")}
    listing = "file_size" in cols
    # Bulk loads are faster into bare tables: drop the secondary indexes, rebuild after.
    indexes = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN ('assets', 'files', 'asset_versions', 'asset_tags')"
    ).fetchall()
    paths = []
    with con:
        for name, _ in indexes:
            con.execute(f"DROP INDEX {name}")
        assets, files, versions, tags = [], [], [], []
        for i, uid, file_uid, slug, ctype, tag, created in rows():
            a = (uid, api_key, slug, f'["{tag}"]', file_uid, slug, user, user, created, created)
            assets.append(a + ((slug, ctype, size) if listing else ()))
            files.append((file_uid, uid, sha, size, ctype, slug, created))
            versions.append((uid, 1, file_uid, slug, f'["{tag}"]', "upload", user, created))
            versions.append((uid, 2, file_uid, slug, f'["{tag}"]', "permanent_url", user, created))
            tags.append((uid, api_key, tag))
            paths.append(f"/v3/assets/{api_key}/{uid}/{slug}")
        extra_cols = ", filename, content_type, file_size" if listing else ""
        extra_marks = ", ?, ?, ?" if listing else ""
        con.executemany(
            "INSERT INTO assets (uid, api_key, is_dir, parent_uid, title, description, tags, file_uid, "
            f"version, permanent_slug, created_by, updated_by, created_at, updated_at{extra_cols}) "
            f"VALUES (?, ?, 0, NULL, ?, '', ?, ?, 2, ?, ?, ?, ?, ?{extra_marks})",
            assets,
        )
        con.executemany(
            "INSERT INTO files (uid, asset_uid, sha256, size, content_type, filename, width, height, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?)",
            files,
        )
        con.executemany(
            "INSERT INTO asset_versions (asset_uid, version, file_uid, title, description, tags, "
            "parent_uid, action, created_by, created_at) VALUES (?, ?, ?, ?, '', ?, NULL, ?, ?, ?)",
            versions,
        )
        if listing:
            con.executemany("INSERT INTO asset_tags (asset_uid, api_key, tag) VALUES (?, ?, ?)", tags)
        for _, sql in indexes:
            con.execute(sql)
    con.execute("ANALYZE")
    con.close()
    return paths


def seed_postgres():
    buf = {"assets": io.StringIO(), "files": io.StringIO(), "asset_versions": io.StringIO(), "asset_tags": io.StringIO()}
    paths = []
    for i, uid, file_uid, slug, ctype, tag, created in rows():
        t = f'["{tag}"]'
        buf["assets"].write(f"{uid}\t{api_key}\t0\t{slug}\t\t{t}\t{file_uid}\t2\t{slug}\t{user}\t{user}\t{created}\t{created}\t{slug}\t{ctype}\t{size}\n")
        buf["files"].write(f"{file_uid}\t{uid}\t{sha}\t{size}\t{ctype}\t{slug}\t{created}\n")
        buf["asset_versions"].write(f"{uid}\t1\t{file_uid}\t{slug}\t\t{t}\tupload\t{user}\t{created}\n")
        buf["asset_versions"].write(f"{uid}\t2\t{file_uid}\t{slug}\t\t{t}\tpermanent_url\t{user}\t{created}\n")
        buf["asset_tags"].write(f"{uid}\t{api_key}\t{tag}\n")
        paths.append(f"/v3/assets/{api_key}/{uid}/{slug}")
    columns = {
        "assets": "uid, api_key, is_dir, title, description, tags, file_uid, version, permanent_slug, "
        "created_by, updated_by, created_at, updated_at, filename, content_type, file_size",
        "files": "uid, asset_uid, sha256, size, content_type, filename, created_at",
        "asset_versions": "asset_uid, version, file_uid, title, description, tags, action, created_by, created_at",
        "asset_tags": "asset_uid, api_key, tag",
    }
    script = io.StringIO()
    script.write("BEGIN;\n")
    for table in ["assets", "files", "asset_versions", "asset_tags"]:
        script.write(f"COPY {table} ({columns[table]}) FROM STDIN;\n")
        script.write(buf[table].getvalue())
        script.write("\\.\n")
    script.write("COMMIT;\nVACUUM ANALYZE;\n")
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", db], input=script.getvalue(), text=True, check=True, stdout=subprocess.DEVNULL)
    return paths


paths = seed_postgres() if db.startswith("postgres") else seed_sqlite()
print("\n".join(paths))
