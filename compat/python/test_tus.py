"""tuspy (the Python tus client), unchanged, against perma's resumable uploads (§16).

A proxy between them cuts the connection in the middle of a PATCH: tuspy asks the server
for its offset and resumes from there, and the file that becomes an asset has the source's
SHA-256, with the finished bytes not sent a second time. PERMA_URL, PERMA_EMAIL and
PERMA_PASSWORD come from compat/run.
"""
import hashlib
import json
import os
import socket
import threading
import urllib.request

from tusclient import client as tus_client

BASE = os.environ["PERMA_URL"]
MiB = 1 << 20


def call(method, path, body=None, headers=None):
    req = urllib.request.Request(BASE + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"content-type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


class CuttingProxy(threading.Thread):
    """Forwards 127.0.0.1:port to perma; counts the bytes clients send in PATCH connections,
    and cuts the connection that carries byte `cut_after` of them."""

    def __init__(self, cut_after):
        super().__init__(daemon=True)
        self.upstream = BASE.split("://", 1)[1].split(":")
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.cut_after = cut_after
        self.patch_bytes = 0
        self.lock = threading.Lock()

    def run(self):
        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection((self.upstream[0], int(self.upstream[1])))
            threading.Thread(target=self.down, args=(server, client), daemon=True).start()
            threading.Thread(target=self.up, args=(client, server), daemon=True).start()

    @staticmethod
    def down(server, client):
        try:
            while data := server.recv(65536):
                client.sendall(data)
        except OSError:
            pass
        finally:
            client.close()

    def up(self, client, server):
        patch = False
        try:
            while data := client.recv(65536):
                start = 0
                if not patch and b"PATCH " in data:
                    patch, start = True, data.index(b"PATCH ")
                if not patch:
                    server.sendall(data)
                    continue
                take = len(data)
                with self.lock:
                    cut = self.cut_after is not None and self.patch_bytes + take - start >= self.cut_after
                    if cut:
                        take = start + self.cut_after - self.patch_bytes
                        self.cut_after = None
                    self.patch_bytes += take - start
                server.sendall(data[:take])
                if cut:
                    client.shutdown(socket.SHUT_RDWR)
                    server.shutdown(socket.SHUT_RDWR)
                    return
        except OSError:
            pass
        finally:
            server.close()


def test_a_cut_upload_resumes_from_the_server_offset(tmp_path):
    token = call("POST", "/v3/user-session", {"user": {"email": os.environ["PERMA_EMAIL"],
                                                       "password": os.environ["PERMA_PASSWORD"]}})["user"]["authtoken"]
    api_key = call("POST", "/v3/stacks", {"stack": {"name": "tuspy"}}, {"authtoken": token})["stack"]["api_key"]
    auth = {"authtoken": token, "api_key": api_key}
    data = bytes((i * 7 + (i >> 10)) & 0xFF for i in range(12 * MiB))
    path = str(tmp_path / "master.bin")
    with open(path, "wb") as f:
        f.write(data)

    proxy = CuttingProxy(cut_after=5 * MiB + 12345)
    proxy.start()
    tus = tus_client.TusClient(proxy.url + "/v3/uploads", headers=auth)
    # A short pause before retrying, as real clients make (tus-js-client: 0, 1, 3, 5 s): a
    # retry sent at once can overtake its own cut request before the server has read it, and
    # then learns an offset that request is about to move (409, and a chunk sent twice).
    uploader = tus.uploader(path, chunk_size=4 * MiB, retries=3, retry_delay=0.2,
                            metadata={"filename": "master.bin", "filetype": "application/octet-stream"})
    uploader.upload()
    assert uploader.offset == len(data)
    assert proxy.cut_after is None, "the proxy never cut the connection"
    # Resumed from what the server kept, not from the start of the cut chunk: at most one
    # request head's worth more than the file went over the wire.
    assert proxy.patch_bytes <= len(data) + 64 * 1024, proxy.patch_bytes

    upload_uid = uploader.url.rsplit("/", 1)[1]
    asset = call("POST", "/v3/assets", {"asset": {"upload_uid": upload_uid, "title": "Master"}}, auth)["asset"]
    assert asset["file_size"] == str(len(data))
    with urllib.request.urlopen(asset["url"]) as r:
        got = r.read()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
