//! §8 command line: admin commands, client commands over HTTP, maintenance.

use std::process::Output;

use crate::support::{perma_cmd, Server, ADMIN_EMAIL};

fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "command failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.trim().to_owned()
}

#[tokio::test]
async fn admin_and_client_commands() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::prepare_database(dir.path()).await;
    let d = dir.path();
    assert!(ok(perma_cmd(d).arg("migrate").output().unwrap()).contains("applied 0001_init"));
    assert!(ok(perma_cmd(d).arg("migrate").output().unwrap()).contains("up to date"));
    ok(perma_cmd(d)
        .args([
            "user",
            "create",
            "--email",
            "cli@example.com",
            "--password",
            "cli-password",
        ])
        .output()
        .unwrap());
    let dup = perma_cmd(d)
        .args([
            "user",
            "create",
            "--email",
            "cli@example.com",
            "--password",
            "cli-password",
        ])
        .output()
        .unwrap();
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already taken"));
    let short = perma_cmd(d)
        .args([
            "user",
            "create",
            "--email",
            "x@example.com",
            "--password",
            "short",
        ])
        .output()
        .unwrap();
    assert!(!short.status.success());
    // An invitation: the secret once on stdout; an account with a password needs none.
    let invitation = ok(perma_cmd(d)
        .args(["user", "invite", "--email", "invitee@example.com"])
        .output()
        .unwrap());
    assert!(invitation.starts_with("inv"), "{invitation}");
    let needless = perma_cmd(d)
        .args(["user", "invite", "--email", "cli@example.com"])
        .output()
        .unwrap();
    assert!(!needless.status.success());
    assert!(String::from_utf8_lossy(&needless.stderr).contains("already has a password"));
    let api_key = ok(perma_cmd(d)
        .args([
            "stack",
            "create",
            "--name",
            "CLI",
            "--owner",
            "cli@example.com",
        ])
        .output()
        .unwrap());
    assert!(
        api_key.starts_with("blt") && api_key.len() == 19,
        "{api_key}"
    );
    let token = ok(perma_cmd(d)
        .args(["token", "create", "--stack", &api_key, "--name", "ci"])
        .output()
        .unwrap());
    let ro_token = ok(perma_cmd(d)
        .args([
            "token",
            "create",
            "--stack",
            &api_key,
            "--name",
            "ro",
            "--read-only",
        ])
        .output()
        .unwrap());

    let server = Server::start(d);
    let client = |tok: &str| {
        let mut c = perma_cmd(d);
        c.env("PERMA_SERVER", &server.base)
            .env("PERMA_API_KEY", &api_key)
            .env("PERMA_TOKEN", tok);
        c
    };
    let file = d.join("Quarterly Report.pdf");
    std::fs::write(&file, b"%PDF-1.4 quarterly numbers").unwrap();
    let out = ok(client(&token).arg("upload").arg(&file).output().unwrap());
    let (uid, url) = out.split_once('\t').unwrap();
    assert!(url.ends_with("/Quarterly_Report.pdf"), "{url}");

    let refused = client(&ro_token).arg("upload").arg(&file).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403"));

    let perm = ok(client(&token)
        .args(["permanent-url", uid])
        .output()
        .unwrap());
    assert!(
        perm.ends_with(&format!("/{uid}/quarterly_report.pdf"))
            || perm.ends_with(&format!("/{uid}/quarterly-report.pdf")),
        "{perm}"
    );
    let again = client(&token)
        .args(["permanent-url", uid, "other-slug"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already set"));
    let bad = client(&token)
        .args(["permanent-url", uid, "bad slug"])
        .output()
        .unwrap();
    assert!(!bad.status.success());

    let v2 = d.join("v2.pdf");
    std::fs::write(&v2, b"%PDF-1.4 corrected numbers").unwrap();
    let new_url = ok(client(&token)
        .arg("replace")
        .arg(uid)
        .arg(&v2)
        .output()
        .unwrap());
    assert_ne!(new_url, url);

    let dest = d.join("out.pdf");
    ok(client(&token)
        .args(["download", uid, "-o"])
        .arg(&dest)
        .output()
        .unwrap());
    assert_eq!(std::fs::read(&dest).unwrap(), b"%PDF-1.4 corrected numbers");
    let dest2 = d.join("perm.pdf");
    ok(client(&token)
        .args(["download", &perm, "-o"])
        .arg(&dest2)
        .output()
        .unwrap());
    assert_eq!(
        std::fs::read(&dest2).unwrap(),
        b"%PDF-1.4 corrected numbers"
    );

    // `perma sign`: a signed URL that downloads; a tampered one is refused (§13).
    let signed = ok(client(&token)
        .args(["sign", uid, "--expires-in", "120", "--params", "dl=1"])
        .output()
        .unwrap());
    assert!(
        signed.starts_with(&perm) && signed.contains("&signature="),
        "{signed}"
    );
    let r = reqwest::get(&signed).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert_eq!(&r.bytes().await.unwrap()[..], b"%PDF-1.4 corrected numbers");
    let tampered = signed.replace("dl=1", "dl=0");
    assert_eq!(
        reqwest::get(&tampered).await.unwrap().status(),
        reqwest::StatusCode::FORBIDDEN
    );
    let version = ok(client(&token)
        .args(["sign", uid, "--version"])
        .output()
        .unwrap());
    assert_eq!(
        reqwest::get(&version).await.unwrap().status(),
        reqwest::StatusCode::OK
    );
    let bad_params = client(&token)
        .args(["sign", uid, "--params", "width=abc"])
        .output()
        .unwrap();
    assert!(!bad_params.status.success());
    assert!(String::from_utf8_lossy(&bad_params.stderr).contains("400"));
    let bad_sign = client(&token)
        .args(["sign", uid, "--expires-in", "0"])
        .output()
        .unwrap();
    assert!(!bad_sign.status.success());
    assert!(String::from_utf8_lossy(&bad_sign.stderr).contains("422"));

    let ls = ok(client(&token).arg("ls").output().unwrap());
    assert!(ls.contains(uid) && ls.contains("application/pdf"), "{ls}");
    let ls_json = ok(client(&token)
        .args(["ls", "--json", "--query", r#"{"filename":"nothing"}"#])
        .output()
        .unwrap());
    assert!(ls_json.contains("\"count\": 0"), "{ls_json}");
    let bad_q = client(&token)
        .args(["ls", "--query", "{"])
        .output()
        .unwrap();
    assert!(!bad_q.status.success());
    assert!(String::from_utf8_lossy(&bad_q.stderr).contains("422"));

    // The trash: list it, restore an item, empty it; an unknown item is an error.
    let doomed = d.join("doomed.txt");
    std::fs::write(&doomed, b"to the trash and back").unwrap();
    let up = ok(client(&token).arg("upload").arg(&doomed).output().unwrap());
    let (doomed_uid, _) = up.split_once('\t').unwrap();
    let http = reqwest::Client::new();
    let gone = http
        .delete(format!("{}/v3/assets/{doomed_uid}", server.base))
        .header("api_key", &api_key)
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), reqwest::StatusCode::OK);
    let listed = ok(client(&token).args(["trash", "list"]).output().unwrap());
    assert!(
        listed.contains(doomed_uid) && listed.contains("14 days left"),
        "{listed}"
    );
    let back = ok(client(&token)
        .args(["trash", "restore", doomed_uid])
        .output()
        .unwrap());
    assert!(back.contains("Asset restored."), "{back}");
    assert!(ok(client(&token).arg("ls").output().unwrap()).contains(doomed_uid));
    let missing = client(&token)
        .args(["trash", "restore", doomed_uid])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404"));
    let none = client(&token).args(["trash", "empty"]).output().unwrap();
    assert!(!none.status.success(), "empty needs a uid or --all");
    // Emptying the trash is an Admin's call (§14): not a management token's.
    let refused = client(&token)
        .args(["trash", "empty", "--all"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403"));
    let mut admin = perma_cmd(d);
    admin
        .env("PERMA_SERVER", &server.base)
        .env("PERMA_API_KEY", &api_key)
        .env("PERMA_EMAIL", "cli@example.com")
        .env("PERMA_PASSWORD", "cli-password");
    let emptied = ok(admin.args(["trash", "empty", "--all"]).output().unwrap());
    assert!(emptied.contains("0 removed"), "{emptied}");

    // Email/password login works for client commands too.
    let mut c = perma_cmd(d);
    c.env("PERMA_SERVER", &server.base)
        .env("PERMA_API_KEY", &api_key)
        .env("PERMA_EMAIL", "cli@example.com")
        .env("PERMA_PASSWORD", "cli-password");
    assert!(ok(c.arg("ls").output().unwrap()).contains(uid));
    let _ = ADMIN_EMAIL;
    // The invited person sets a password with the invitation at their first sign-in.
    let first = reqwest::Client::new()
        .post(format!("{}/v3/user-session", server.base))
        .json(&serde_json::json!({"user": {"email": "invitee@example.com",
            "password": "invitee-password", "invitation_token": invitation}}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), reqwest::StatusCode::OK);

    drop(server);
    assert!(ok(perma_cmd(d).arg("fsck").output().unwrap()).contains("missing: 0"));
}
