"""The render attack of bench/render_attack.sh, against a running perma.

Usage: render_attack.py BASE PID AUTHTOKEN API_KEY PHOTO BOMB BIG SMALL BUDGET_MIB [smoke]

With `smoke` (CI, a debug build) the heavy renders are 900 px instead of 1,800.

Uploads PHOTO (a photo of about 1,500 px), BOMB (a GIF whose logical screen is 12,000 px
square), BIG (a 7,000 px square PNG, within the decoded-pixel limit) and SMALL (a 4 KiB
file). Then, while a thread asks for SMALL every 50 ms and another reads the server's RSS
every 20 ms:

1. six heavy renders of PHOTO at once (AVIF at 1,800 px, upscaled, quality 99: about
   400 MB each; six distinct widths so that none is shared);
2. twenty distinct renders of BOMB at once;
3. twenty distinct renders of BIG at once (2,000 px WebP: each needs a few hundred MB,
   the memory budget makes them take turns);
4. the six heavy renders again (stored ones are served, ones that missed the time limit
   are refused at once).

Prints the answers' status counts per phase, the idle and peak RSS, and the small-file
latencies, and exits non-zero when a target is missed: peak RSS above idle RSS plus the
render memory budget, a small-file request over 50 ms at p99, or a 5xx but 503 (the
renderer busy).
"""

import collections
import json
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request

base, pid, token, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
photo, bomb, big, small = sys.argv[5:9]
budget_mib = int(sys.argv[9])
heavy = 900 if sys.argv[10:] == ["smoke"] else 1800


def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def upload(path):
    boundary = "perma-bench-boundary"
    with open(path, "rb") as f:
        data = f.read()
    name = path.rsplit("/", 1)[-1]
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"asset[upload]\"; "
        f"filename=\"{name}\"\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(
        f"{base}/v3/assets",
        data=body,
        headers={
            "authtoken": token,
            "api_key": key,
            "content-type": f"multipart/form-data; boundary={boundary}",
        },
    )
    with urllib.request.urlopen(req) as r:
        return json.load(r)["asset"]["url"]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=120) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        e.read()
        return e.code


urls = {name: upload(path) for name, path in
        [("photo", photo), ("bomb", bomb), ("big", big), ("small", small)]}
time.sleep(0.5)
idle = rss_kib()
stop = threading.Event()
peak = [idle]
peaks = [idle]
latencies = []


def watch_rss():
    while not stop.is_set():
        peak[0] = max(peak[0], rss_kib())
        time.sleep(0.02)


def probe_small():
    while not stop.is_set():
        t = time.perf_counter()
        status = get(urls["small"])
        latencies.append(((time.perf_counter() - t) * 1000, status))
        time.sleep(0.05)


def phase(name, queries, source):
    statuses = collections.Counter()
    lock = threading.Lock()

    def one(q):
        s = get(f"{urls[source]}?{q}")
        with lock:
            statuses[s] += 1

    t = time.perf_counter()
    peak[0] = rss_kib()
    threads = [threading.Thread(target=one, args=(q,)) for q in queries]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    took = time.perf_counter() - t
    phase_peak = max(peak[0], rss_kib())
    peaks.append(phase_peak)
    print(f"  {name:<34} {dict(sorted(statuses.items()))}  {took:5.1f} s, "
          f"peak RSS {phase_peak / 1024:.0f} MiB")
    return statuses


watchers = [threading.Thread(target=watch_rss), threading.Thread(target=probe_small)]
for w in watchers:
    w.start()
print("== render attack")
results = [
    phase("6 heavy AVIF renders at once", [f"width={heavy - i}&format=avif&quality=99" for i in range(6)], "photo"),
    phase("20 distinct GIF-bomb renders", [f"width={100 + i}&format=png" for i in range(20)], "bomb"),
    phase("20 distinct 49 MP PNG renders", [f"width={2000 + i}&format=webp" for i in range(20)], "big"),
]
# The same heavy renders again: stored ones are served, ones that missed the time limit
# are refused at once; none is rendered from zero again.
results.append(phase("the same 6 again", [f"width={heavy - i}&format=avif&quality=99" for i in range(6)], "photo"))
time.sleep(0.3)
stop.set()
for w in watchers:
    w.join()
peak[0] = max(peaks + [peak[0], rss_kib()])

ms = sorted(l for l, _ in latencies)
bad_small = [s for _, s in latencies if s != 200]
p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else 0
print(f"  idle RSS {idle / 1024:.0f} MiB, peak RSS {peak[0] / 1024:.0f} MiB, "
      f"growth {(peak[0] - idle) / 1024:.0f} MiB (render memory budget {budget_mib} MiB)")
print(f"  small file during the attack: {len(ms)} requests, median {statistics.median(ms) if ms else 0:.1f} ms, "
      f"p99 {p99:.1f} ms, max {ms[-1] if ms else 0:.1f} ms, non-200: {len(bad_small)}")
failed = []
if (peak[0] - idle) / 1024 > budget_mib:
    failed.append("RSS grew past the render memory budget")
if p99 > 50:
    failed.append("small-file p99 over 50 ms")
if bad_small:
    failed.append("small-file requests failed")
# 503 is the renderer saying it is busy (a render waited its time limit for a turn or for
# memory): a right answer under attack. Anything else from 500 up is a failure.
if any(s >= 500 and s != 503 for r in results for s in r):
    failed.append("a render answered 5xx other than 503")
if failed:
    print("FAILED: " + "; ".join(failed))
    sys.exit(1)
print("  every target met")
