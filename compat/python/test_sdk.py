"""The official contentstack-management Python SDK, unchanged, pointed at perma.

PERMA_URL (e.g. http://127.0.0.1:8080), PERMA_EMAIL and PERMA_PASSWORD come from compat/run.
Tests run in file order and share one stack.
"""
import atexit
import json
import os
import shutil
import tempfile
import urllib.request
from urllib.error import HTTPError

import contentstack_management

BASE = os.environ["PERMA_URL"]
HOST = BASE.split("://", 1)[1]
EMAIL = os.environ["PERMA_EMAIL"]
PASSWORD = os.environ["PERMA_PASSWORD"]
TMP = tempfile.mkdtemp(prefix="perma-py-")
atexit.register(shutil.rmtree, TMP, ignore_errors=True)

client = contentstack_management.Client(host=HOST, scheme="http://", timeout=30)
state = {}


def write(name, data):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def stack():
    return client.stack(state["api_key"])


def http_get(url):
    try:
        with urllib.request.urlopen(url) as r:
            return r.status, r.read()
    except HTTPError as e:
        return e.code, e.read()


def test_login_and_stack():
    res = client.login(EMAIL, PASSWORD)
    assert res.status_code == 200, res.text
    assert client.authtoken
    # The SDK never sends organization_uid (its check is `is not None and ''`), so perma
    # falls back to the user's default organization.
    res = client.stack().create("ignored", {"stack": {"name": "Python SDK stack", "master_locale": "en-us"}})
    assert res.status_code == 201, res.text
    state["api_key"] = res.json()["stack"]["api_key"]
    res = stack().environments().create({"environment": {"name": "production", "urls": []}})
    assert res.status_code == 201, res.text


def test_upload_fetch_query():
    path = write("Brand Guide.pdf", b"%PDF-1.4 brand guide v1")
    res = stack().assets().upload(path)
    assert res.status_code == 201, res.text
    asset = res.json()["asset"]
    assert asset["filename"] == "Brand_Guide.pdf"
    assert asset["content_type"] == "application/pdf"
    state["uid"] = asset["uid"]
    state["v1_url"] = asset["url"]
    res = stack().assets(state["uid"]).fetch()
    assert res.status_code == 200
    assert res.json()["asset"]["uid"] == state["uid"]
    assets = stack().assets()
    assets.add_param("query", json.dumps({"content_type": "application/pdf"}))
    assets.add_param("include_count", "true")
    res = assets.find()
    assert res.status_code == 200, res.text
    assert res.json()["count"] == 1


def test_update_metadata():
    res = stack().assets(state["uid"]).update({"asset": {"title": "Brand guide", "description": "v1", "tags": ["brand"]}})
    assert res.status_code == 200, res.text
    a = res.json()["asset"]
    assert a["title"] == "Brand guide" and a["tags"] == ["brand"] and a["_version"] == 2


def test_generate_permanent_url():
    uid, key = state["uid"], state["api_key"]
    res = stack().assets(uid).generate({"asset": {"permanent_url": f"https://images.contentstack.io/v3/assets/{key}/{uid}/brand-guide.pdf"}})
    assert res.status_code == 200, res.text
    a = res.json()["asset"]
    assert a["permanent_url"] == f"{BASE}/v3/assets/{key}/{uid}/brand-guide.pdf"
    state["permanent_url"] = a["permanent_url"]
    # Once only.
    res = stack().assets(uid).generate({"asset": {"permanent_url": "another-slug"}})
    assert res.status_code == 422
    assert res.json()["errors"]["permanent_url"] == ["is already set and cannot be changed"]


def test_replace_and_download_through_permanent_url():
    path = write("brand-guide-v2.pdf", b"%PDF-1.4 brand guide v2")
    res = stack().assets(state["uid"]).replace(path)
    assert res.status_code == 200, res.text
    a = res.json()["asset"]
    assert a["filename"] == "brand-guide-v2.pdf"
    assert a["url"] != state["v1_url"]
    assert a["permanent_url"] == state["permanent_url"]
    status, body = http_get(state["permanent_url"])
    assert status == 200 and body == b"%PDF-1.4 brand guide v2"
    status, body = http_get(state["v1_url"])
    assert status == 200 and body == b"%PDF-1.4 brand guide v1"
    # The SDK's download() is a management download of the latest file.
    res = stack().assets(state["uid"]).download()
    assert res.status_code == 200
    assert res.content == b"%PDF-1.4 brand guide v2"


def test_publish():
    res = stack().assets(state["uid"]).publish({"asset": {"environments": ["production"], "locales": ["en-us"]}, "version": 1})
    assert res.status_code == 200, res.text
    status, body = http_get(state["permanent_url"] + "?environment=production")
    assert status == 200 and body == b"%PDF-1.4 brand guide v1"
    res = stack().assets(state["uid"]).unpublish({"asset": {"environments": ["production"], "locales": ["en-us"]}})
    assert res.status_code == 200, res.text
    status, _ = http_get(state["permanent_url"] + "?environment=production")
    assert status == 404


def test_folders():
    # create_folder() passes its dict to requests as form data, which would drop the
    # nested name; a JSON string is sent as-is.
    res = stack().assets().create_folder(json.dumps({"asset": {"name": "Guides"}}))
    assert res.status_code == 201, res.text
    folder = res.json()["asset"]
    assert folder["is_dir"] is True
    res = stack().assets().update_or_move(folder["uid"], {"asset": {"name": "Brand guides"}})
    assert res.status_code == 200, res.text
    assert res.json()["asset"]["name"] == "Brand guides"
    res = stack().assets(state["uid"]).update({"asset": {"parent_uid": folder["uid"]}})
    assert res.status_code == 200, res.text
    res = stack().assets().specific_folder(folder["uid"])
    assert res.status_code == 200, res.text
    assert [a["uid"] for a in res.json()["assets"]] == [state["uid"]]
    state["folder"] = folder["uid"]


def test_subfolders_through_include_folders_true():
    # The SDK sends include_folders=True (Python's spelling of a boolean).
    res = stack().assets().create_folder(
        json.dumps({"asset": {"name": "Logos", "parent_uid": state["folder"]}}))
    assert res.status_code == 201, res.text
    sub = res.json()["asset"]["uid"]
    res = stack().assets().subfolders(state["folder"])
    assert res.status_code == 200, res.text
    assert sub in [a["uid"] for a in res.json()["assets"]]


def test_versions():
    res = stack().assets(state["uid"]).version()
    assert res.status_code == 200, res.text
    versions = [v["_version"] for v in res.json()["versions"]]
    assert versions == sorted(versions, reverse=True) and versions[-1] == 1
    res = stack().assets(state["uid"]).version_naming(1, {"upload": {"_version_name": "first draft"}})
    assert res.status_code == 200, res.text
    res = stack().assets(state["uid"]).version()
    named = [v for v in res.json()["versions"] if v.get("_version_name") == "first draft"]
    assert [v["_version"] for v in named] == [1]
    res = stack().assets(state["uid"]).version_delete(1)
    assert res.status_code == 200, res.text


def test_references_and_types():
    res = stack().assets(state["uid"]).references()
    assert res.status_code == 200 and res.json() == {"references": []}
    res = stack().assets().specific_asset_type("images")
    assert res.status_code == 200 and res.json()["assets"] == []


def test_delete_and_missing_asset_error_shape():
    res = stack().assets(state["uid"]).delete()
    assert res.status_code == 200, res.text
    res = stack().assets(state["uid"]).fetch()
    assert res.status_code == 404
    body = res.json()
    assert body["error_code"] == 145
    assert body["error_message"]
    assert isinstance(body["errors"], dict)
    status, _ = http_get(state["permanent_url"])
    assert status == 410
    res = stack().assets().delete_folder(state["folder"])
    assert res.status_code == 200, res.text


def test_tokens_update_and_notices():
    res = stack().management_token().create({"token": {
        "name": "py", "scope": [{"module": "asset", "acl": {"read": True, "write": False}}]}})
    assert res.status_code == 201, res.text
    uid = res.json()["token"]["uid"]
    res = stack().management_token(uid).update({"token": {
        "name": "py renamed", "description": "from Python",
        "scope": [{"module": "asset", "acl": {"read": True, "write": True}}]}})
    assert res.status_code == 200, res.text
    assert res.json()["token"]["name"] == "py renamed"
    assert res.json()["notice"] == "Management Token updated successfully."
    res = stack().management_token(uid).delete()
    assert res.json()["notice"] == "Management Token deleted successfully."
    res = stack().management_token().create({"token": {
        "name": "expired", "expires_on": "2001-01-01T00:00:00.000Z",
        "scope": [{"module": "asset", "acl": {"read": True}}]}})
    assert res.status_code == 422 and "expires_on" in res.json()["errors"], res.text
    res = stack().delivery_token().create({"token": {
        "name": "site", "scope": [{"module": "environment", "environments": ["production"]}]}})
    assert res.status_code == 201, res.text
    uid = res.json()["token"]["uid"]
    res = stack().delivery_token(uid).update({"token": {"name": "site", "description": "web"}})
    assert res.status_code == 200, res.text
    assert res.json()["notice"] == "Delivery Token updated successfully."
    assert stack().delivery_token(uid).delete().json()["notice"] == \
        "Delivery Token deleted successfully."


def test_locale_update_and_fallback():
    res = stack().locale().create({"locale": {"code": "de-de", "name": "German"}})
    assert res.status_code == 201, res.text
    res = stack().locale("de-de").update({"locale": {"name": "Deutsch"}})
    assert res.status_code == 200 and res.json()["locale"]["name"] == "Deutsch", res.text
    res = stack().locale("de-de").update_fallback({"locale": {"fallback_locale": "xx-xx"}})
    assert res.status_code == 422 and "fallback_locale" in res.json()["errors"], res.text
    assert stack().locale("de-de").fetch().json()["locale"]["fallback_locale"] == "en-us"


def test_bulk_publish_job():
    path = write("bulk.txt", b"bulk")
    uid = stack().assets().upload(path).json()["asset"]["uid"]
    res = stack().bulk_operation().publish({
        "assets": [{"uid": uid}], "environments": ["production"], "locales": ["en-us"]})
    assert res.status_code == 200, res.text
    job = res.json()["job_id"]
    import time
    for _ in range(100):
        status = stack().bulk_operation().job_status(job).json()
        if status["status"] == "completed":
            break
        time.sleep(0.05)
    assert status["summary"] == {"total": 1, "success": 1, "failed": 0, "pending": 0}, status
    res = stack().bulk_operation().publish({
        "entries": [{"uid": "x", "content_type": "page"}], "environments": ["production"]})
    assert res.status_code == 422 and "entries" in res.json()["errors"], res.text


def test_members_and_settings_reset():
    res = stack().users()
    assert res.status_code == 200, res.text
    assert [u["email"] for u in res.json()["stack"]["users"]] == [EMAIL]
    res = stack().reset_settings({"stack_settings": {}})
    assert res.status_code == 200, res.text
    assert res.json()["stack_settings"]["secure_asset_urls"] is False


def test_webhooks_through_the_sdk():
    import hashlib
    import hmac
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, HTTPServer

    got = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            got.append((self.headers, body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        target = f"http://127.0.0.1:{server.server_address[1]}/hook"
        res = stack().webhooks().create({"webhook": {
            "name": "Python hook",
            "destinations": [{"target_url": target}],
            "channels": ["assets.update"],
            "retry_policy": "manual",
        }})
        assert res.status_code == 201, res.text
        hook = res.json()["webhook"]
        secret = hook["secret"]
        res = stack().webhooks().find()
        assert res.status_code == 200 and any(w["uid"] == hook["uid"] for w in res.json()["webhooks"])
        res = stack().webhooks(hook["uid"]).update({"webhook": {
            "name": "Python hook, renamed",
            "destinations": [{"target_url": target}],
            "channels": ["assets.update"],
        }})
        assert res.status_code == 200, res.text
        assert res.json()["webhook"]["name"] == "Python hook, renamed"

        uid = stack().assets().upload(write("hooked.txt", b"hook me")).json()["asset"]["uid"]
        res = stack().assets(uid).update({"asset": {"title": "Hooked"}})
        assert res.status_code == 200, res.text
        for _ in range(200):
            if got:
                break
            time.sleep(0.025)
        headers, body = got[0]
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Contentstack-Request-Signature"] == signature
        assert json.loads(body)["data"]["asset"]["title"] == "Hooked"

        for _ in range(100):
            executions = stack().webhooks(hook["uid"]).executions().json()["webhooks"]
            if executions and executions[0]["status"] == "success":
                break
            time.sleep(0.025)
        assert executions[0]["status"] == "success"
        execution = executions[0]["uid"]
        # Contentstack's documented retry names the execution alone.
        res = stack().webhooks().retry(execution)
        assert res.status_code == 200, res.text
        for _ in range(200):
            if len(got) == 2:
                break
            time.sleep(0.025)
        assert len(got) == 2 and got[1][1] == body
        res = stack().webhooks().logs(execution)
        assert res.status_code == 200, res.text
        assert res.json()["webhook"]["attempts"] == 2
        # The SDK's delete() pops Content-Type from the shared headers and raises KeyError
        # when an earlier call already removed it (an SDK quirk, not perma's).
        hooks = stack().webhooks(hook["uid"])
        hooks.client.headers.setdefault("Content-Type", "application/json")
        res = hooks.delete()
        assert res.status_code == 200, res.text
    finally:
        server.shutdown()


def _json_headers():
    # Some SDK calls leave their own Content-Type in the shared headers (imports() sets a
    # bare multipart/form-data, delete() pops it); JSON calls need it back.
    stack().client.headers["Content-Type"] = "application/json"


def test_webhooks_of_every_module_export_import_and_logs():
    _json_headers()
    res = stack().webhooks().create({"webhook": {
        "name": "Entries and assets",
        "destinations": [{"target_url": "https://hooks.example.com/mixed",
                          "custom_header": [{"header_name": "X-Key", "value": "secret-value"}]}],
        "channels": ["content_types.entries.create", "content_types.blog.entries.update",
                     "assets.publish", "assets.environments.production.publish.success",
                     "releases.environments.deploy", "assets.*"],
        "branches": ["main"], "concise_payload": True, "disabled": True,
    }})
    assert res.status_code == 201, res.text
    hook = res.json()["webhook"]
    assert "content_types.blog.entries.update" in hook["channels"]
    res = stack().webhooks().create({"webhook": {
        "name": "bad", "destinations": [{"target_url": "https://hooks.example.com/x"}],
        "channels": ["entries.create"]}})
    assert res.status_code == 422 and "channels" in res.json()["errors"], res.text

    res = stack().webhooks(hook["uid"]).export()
    assert res.status_code == 200, res.text
    exported = res.json()
    assert exported["name"] == "Entries and assets"
    assert "secret-value" not in res.text and "secret" not in exported
    path = write("webhook.json", json.dumps(exported).encode())
    res = stack().webhooks().imports(path)
    _json_headers()
    assert res.status_code == 201, res.text
    imported = res.json()["webhook"]
    assert imported["uid"] != hook["uid"]
    assert imported["disabled"] is True
    assert imported["channels"] == hook["channels"]
    assert "X-Key" in res.json()["notice"]

    for uid in (hook["uid"], imported["uid"]):
        hooks = stack().webhooks(uid)
        res = hooks.delete()
        _json_headers()
        assert res.status_code == 200, res.text
    res = stack().webhooks().logs("bltnothere")
    assert res.status_code == 404, res.text


def test_bulk_delete_job():
    _json_headers()
    uids = [stack().assets().upload(write(f"gone{i}.txt", b"gone")).json()["asset"]["uid"]
            for i in range(2)]
    _json_headers()
    res = stack().bulk_operation().delete({"assets": [{"uid": u} for u in uids]})
    assert res.status_code == 200, res.text
    job = res.json()["job_id"]
    import time
    for _ in range(100):
        status = stack().bulk_operation().job_status(job).json()
        if status.get("status") == "completed":
            break
        time.sleep(0.05)
    assert status["summary"]["success"] == 2, status
    for uid in uids:
        assert stack().assets(uid).fetch().status_code == 404
    res = stack().bulk_operation().delete({"entries": [{"uid": "x", "content_type": "page", "locale": "en-us"}]})
    assert res.status_code == 422 and "entries" in res.json()["errors"], res.text


def test_locale_codes_from_contentstacks_list():
    _json_headers()
    res = stack().locale().create({"locale": {"code": "not-a-language", "name": "No"}})
    assert res.status_code == 422 and "code" in res.json()["errors"], res.text
    res = stack().locale().create({"locale": {"code": "pt-br", "name": "Portuguese - Brazil"}})
    assert res.status_code == 201, res.text


def test_metadata_through_the_sdk():
    _json_headers()
    res = stack().extension().create({"extension": {
        "title": "Alt text", "type": "field", "data_type": "text", "multiple": False,
        "src": "https://apps.example.com/alt", "config": {}, "tags": ["a11y"]}})
    assert res.status_code == 201, res.text
    ext = res.json()["extension"]["uid"]
    uid = stack().assets().upload(write("kite.txt", b"kite")).json()["asset"]["uid"]
    _json_headers()
    res = stack().metadata().create({"metadata": {
        "entity_uid": uid, "type": "asset", "extension_uid": ext,
        "presets": [{"uid": "alt", "name": "Alt text", "options": {"value": "A kite"}}]}})
    assert res.status_code == 201, res.text
    md = res.json()["metadata"]
    assert md["entity_uid"] == uid and md["scope"] == "local"
    res = stack().metadata(md["uid"]).fetch()
    assert res.status_code == 200 and res.json()["metadata"]["presets"][0]["options"]["value"] == "A kite"
    res = stack().metadata().find()
    assert res.status_code == 200 and any(m["uid"] == md["uid"] for m in res.json()["metadata"])
    res = stack().metadata(md["uid"]).update({"metadata": {
        "entity_uid": uid, "type": "asset", "extension_uid": ext,
        "presets": [{"uid": "alt", "name": "Alt text", "options": {"value": "A kite in flight"}}]}})
    assert res.status_code == 200 and res.json()["metadata"]["_version"] == 2, res.text
    res = stack().metadata(md["uid"]).publish({"metadata": {"environments": ["production"], "locales": ["en-us"]}})
    assert res.status_code == 200 and res.json()["metadata"]["is_published"] is True, res.text
    res = stack().metadata(md["uid"]).unpublish({"metadata": {"environments": ["production"], "locales": ["en-us"]}})
    assert res.status_code == 200 and res.json()["metadata"]["is_published"] is False, res.text
    res = stack().assets(uid).fetch()
    assert res.json()["asset"]["_version"] == 1
    # Over 5 KB, and an extension the stack does not have.
    res = stack().metadata().create({"metadata": {
        "entity_uid": uid, "type": "asset", "extension_uid": "bltnothere", "presets": []}})
    assert res.status_code == 422 and "extension_uid" in res.json()["errors"], res.text
    res = stack().metadata(md["uid"]).update({"metadata": {"presets": [{"uid": "x" * 6000}]}})
    assert res.status_code == 422 and "metadata" in res.json()["errors"], res.text
    res = stack().metadata(md["uid"]).delete()
    _json_headers()
    assert res.status_code == 200, res.text
    res = stack().extension(ext).delete()
    _json_headers()
    assert res.status_code == 200, res.text


def test_roles_members_and_the_audit_log_through_the_sdk():
    res = stack().roles().find()
    assert res.status_code == 200, res.text
    built_in = {r["name"]: r["uid"] for r in res.json()["roles"]}
    assert {"Admin", "Developer", "Content Manager"} <= set(built_in), built_in
    res = stack().roles().create({"role": {
        "name": "Python viewers",
        "description": "From the Python SDK",
        "rules": [
            {"module": "asset", "assets": ["$all"], "acl": {"read": True}},
            {"module": "environment", "environments": ["$all"], "acl": {"read": True}},
            {"module": "branch", "branches": ["main"], "acl": {"read": True}},
        ],
    }})
    assert res.status_code == 201, res.text
    uid = res.json()["role"]["uid"]
    res = stack().roles(uid).fetch()
    assert res.status_code == 200, res.text
    assert res.json()["role"]["rules"][2]["module"] == "branch"
    res = stack().roles(uid).update({"role": {"name": "Python readers"}})
    assert res.status_code == 200, res.text
    assert res.json()["role"]["name"] == "Python readers"

    # Sharing with a new e-mail invites them; the SDK's role update (PUT) changes their roles.
    res = stack().share({"emails": ["py-invitee@example.com"],
                         "roles": {"py-invitee@example.com": [uid]}})
    assert res.status_code == 200, res.text
    invitee = res.json()["invitations"][0]["user_uid"]
    res = stack().update_user_role({"users": {invitee: [built_in["Content Manager"]]}})
    assert res.status_code == 200, res.text
    res = stack().roles(uid).delete()
    assert res.status_code == 200, res.text
    assert stack().roles(uid).fetch().status_code == 404

    # The audit log as the SDK reads it.
    res = stack().auditlog().find()
    assert res.status_code == 200, res.text
    logs = res.json()["logs"]
    events = [(l["module"], l["event_type"]) for l in logs]
    assert ("role", "delete") in events and ("member", "update") in events, events
    res = stack().auditlog(logs[0]["uid"]).fetch()
    assert res.status_code == 200, res.text
    assert res.json()["log"]["uid"] == logs[0]["uid"]
