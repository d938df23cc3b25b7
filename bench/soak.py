"""Mixed load at a fixed rate against a running perma, for bench/soak.sh.

Usage: soak.py BASE_URL AUTHTOKEN API_KEY PID SECONDS RATE

Sends RATE requests a second for SECONDS, spread evenly: 70 % permanent-URL reads, 15 %
list queries, 10 % uploads, 5 % replaces, over a pool of assets it creates first. Each
request waits for its slot, so the rate holds however fast perma answers (a slow answer
delays no other: 16 worker threads). Prints, per tenth of the run, requests, errors, the
p50/p99 latency and perma's anonymous RSS, then errors in all, the p99 drift (last tenth /
first tenth) overall and by kind of request (a list with `include_count` apart: a total
over a stack the uploads grow) and perma's RSS at the start and the end. Exits 1 on any error.
"""
import http.client
import json
import os
import queue
import random
import sys
import threading
import time
import urllib.parse

base, token, api_key, pid, seconds, rate = sys.argv[1:7]
seconds, rate = float(seconds), float(rate)
url = urllib.parse.urlsplit(base)
host, port = url.hostname, url.port
H = {"authtoken": token, "api_key": api_key}


def conn():
    return http.client.HTTPConnection(host, port, timeout=30)


def request(c, method, path, body=None, headers=None):
    c.request(method, path, body=body, headers={**H, **(headers or {})})
    r = c.getresponse()
    data = r.read()
    return r.status, data


def multipart(name, payload):
    b = "soak-boundary"
    body = (
        f'--{b}\r\nContent-Disposition: form-data; name="asset[upload]"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + payload + f"\r\n--{b}--\r\n".encode()
    return body, {"content-type": f"multipart/form-data; boundary={b}"}


def rss_mib():
    """perma's resident memory in MiB: (all, anonymous, file-backed). File-backed pages are
    the database's mapped pages (SQLite's mmap), which the kernel can drop at will."""
    got = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                got[k] = int(v.split()[0]) / 1024
    return got.get("VmRSS", 0.0), got.get("RssAnon", 0.0), got.get("RssFile", 0.0)


# The pool: assets with permanent URLs.
setup = conn()
assets = []
for i in range(50):
    body, h = multipart(f"soak-{i}.bin", os.urandom(4096 + i))
    st, data = request(setup, "POST", "/v3/assets", body, h)
    assert st == 201, (st, data)
    uid = json.loads(data)["asset"]["uid"]
    st, data = request(
        setup,
        "PUT",
        f"/v3/assets/{uid}",
        json.dumps({"asset": {"permanent_url": f"soak-{i}"}}),
        {"content-type": "application/json"},
    )
    assert st == 200, (st, data)
    assets.append((uid, urllib.parse.urlsplit(json.loads(data)["asset"]["permanent_url"]).path))
assets_lock = threading.Lock()

KINDS = ["read"] * 70 + ["list"] * 15 + ["upload"] * 10 + ["replace"] * 5
# A list with a total (§6 `include_count`) over the stack the uploads grow: reported as a
# kind of its own, so that a count whose cost grew with the stack would show.
LISTS = [
    ("count", "/v3/assets?limit=20&include_count=true"),
    ("list", "/v3/assets?limit=20&query=" + urllib.parse.quote('{"filename":{"$regex":"^soak-1"}}')),
    ("list", "/v3/assets?limit=20&asc=filename&skip=10"),
]
# SOAK_COUNT=0: no list with a count, to tell its growing cost from drift elsewhere.
if os.environ.get("SOAK_COUNT", "1") == "0":
    LISTS = [entry for entry in LISTS if entry[0] != "count"]


def one(c, kind, rnd):
    with assets_lock:
        uid, perm = rnd.choice(assets)
    if kind == "read":
        c.request("GET", perm)
        r = c.getresponse()
        r.read()
        return kind, r.status == 200
    if kind == "list":
        kind, path = rnd.choice(LISTS)
        st, _ = request(c, "GET", path)
        return kind, st == 200
    if kind == "upload":
        body, h = multipart(f"soak-new-{rnd.random()}.bin", os.urandom(2048))
        st, _ = request(c, "POST", "/v3/assets", body, h)
        return kind, st == 201
    body, h = multipart(f"soak-{uid}.bin", os.urandom(4096))
    st, _ = request(c, "PUT", f"/v3/assets/{uid}", body, h)
    return kind, st == 200


windows = 10
span = seconds / windows
lat = [[] for _ in range(windows)]
# Latencies by kind in the first and the last tenth.
by_kind = [{}, {}]
errors = [0] * windows
slots = queue.Queue(maxsize=10_000)
start = time.monotonic() + 0.5
total = int(seconds * rate)


def worker(seed):
    rnd = random.Random(seed)
    c = conn()
    while True:
        item = slots.get()
        if item is None:
            return
        at, kind = item
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        t0 = time.monotonic()
        try:
            kind, ok = one(c, kind, rnd)
        except Exception:  # a dropped connection or a timeout is an error too
            ok = False
            c.close()
            c = conn()
        w = min(int((t0 - start) / span), windows - 1)
        took = time.monotonic() - t0
        lat[w].append(took)
        if w in (0, windows - 1):
            by_kind[w != 0].setdefault(kind, []).append(took)
        if not ok:
            errors[w] += 1


threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(16)]
for t in threads:
    t.start()
rss_start = None
# Anonymous RSS at the end of each tenth: whether memory levels off (caches reaching their
# bounds) or keeps growing.
rss_tenths = [None] * windows


def sample_start():
    global rss_start
    rss_start = rss_mib()


def sample_tenths():
    for w in range(windows):
        delay = start + (w + 1) * span - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        rss_tenths[w] = rss_mib()[1]


# After warm-up, by the clock (the queue runs ahead of the schedule).
warm = threading.Timer(start + min(5.0, seconds / 10) - time.monotonic(), sample_start)
warm.start()
tenths = threading.Thread(target=sample_tenths, daemon=True)
tenths.start()
rnd = random.Random(7)
for n in range(total):
    slots.put((start + n / rate, rnd.choice(KINDS)))
for _ in threads:
    slots.put(None)
for t in threads:
    t.join()
warm.join()
rss_end = rss_mib()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000 if xs else float("nan")


tenths.join(timeout=5)
print(f"{'tenth':>5} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'anon MiB':>9}")
for w in range(windows):
    anon = f"{rss_tenths[w]:9.0f}" if rss_tenths[w] is not None else f"{'':>9}"
    print(f"{w + 1:>5} {len(lat[w]):>9} {errors[w]:>7} {pct(lat[w], 0.5):8.2f} {pct(lat[w], 0.99):8.2f} {anon}")
first, last = pct(lat[0], 0.99), pct(lat[-1], 0.99)
print(f"requests {sum(map(len, lat))} at {rate:g}/s for {seconds:g} s; errors {sum(errors)} (target 0)")
print(f"p99 drift, last tenth / first tenth: {last / first:.2f} ({last:.2f} ms vs {first:.2f} ms)")
for kind in ("read", "list", "count", "upload", "replace"):
    a, b = by_kind[0].get(kind, []), by_kind[1].get(kind, [])
    if a and b:
        print(
            f"  {kind:<8} p50 {pct(a, 0.5):6.2f} -> {pct(b, 0.5):6.2f} ms, "
            f"p99 {pct(a, 0.99):6.2f} -> {pct(b, 0.99):6.2f} ms ({pct(b, 0.99) / pct(a, 0.99):.2f})"
        )
first = rss_start or rss_end
print(
    f"RSS: {first[0]:.0f} MiB after warm-up, {rss_end[0]:.0f} MiB at the end "
    f"(anonymous {first[1]:.0f} -> {rss_end[1]:.0f} MiB, "
    f"file-backed {first[2]:.0f} -> {rss_end[2]:.0f} MiB)"
)
sys.exit(1 if sum(errors) else 0)
