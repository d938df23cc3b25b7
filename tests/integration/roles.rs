//! Roles and permissions (§14): built-in and custom roles in Contentstack's shape, members
//! with roles, and every permission enforced: the forbidden request gets 403 (error 161)
//! and changes nothing; the allowed one works.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{assert_error, Session, TestApp};

/// The uid of one of the stack's roles, by name.
pub(crate) async fn role_uid(s: &Session, name: &str) -> String {
    let (st, v) = s.get("/v3/roles").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no role {name}: {v}"))["uid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A new user, made a member of the admin's stack with these roles, logged in there.
pub(crate) async fn member(t: &TestApp, admin: &Session, email: &str, roles: &[String]) -> Session {
    let mut s = t.new_user(email).await;
    let (st, v) = admin
        .call(
            Method::POST,
            "/v3/stacks/share",
            Some(json!({"emails": [email], "roles": {email: roles}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    s.api_key = admin.api_key.clone();
    s
}

pub(crate) async fn create_role(s: &Session, name: &str, rules: Value) -> String {
    let (st, v) = s
        .call(
            Method::POST,
            "/v3/roles",
            Some(json!({"role": {"name": name, "description": "test", "rules": rules}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["notice"], "The role created successfully.");
    v["role"]["uid"].as_str().unwrap().to_owned()
}

/// A bulk job's items once none is pending.
pub(crate) async fn job_items(s: &Session, job: &str) -> Value {
    for _ in 0..400 {
        let (st, v) = s.get(&format!("/v3/bulk/jobs/{job}/items")).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        if v["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] != "pending")
        {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("job {job} did not finish");
}

#[track_caller]
pub(crate) fn forbidden(got: (StatusCode, Value)) {
    assert_error(got, 403, 161);
}

pub(crate) async fn title(admin: &Session, uid: &str) -> Value {
    let (st, v) = admin.get(&format!("/v3/assets/{uid}")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["asset"]["title"].clone()
}

#[tokio::test]
async fn a_stack_has_three_built_in_roles_and_custom_roles_round_trip() {
    let t = TestApp::spawn().await;
    let admin = t.admin().await;
    let (st, v) = admin
        .get("/v3/roles?include_rules=true&include_count=true&include_permissions=true")
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["count"], 3);
    let names: Vec<&str> = v["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Admin", "Content Manager", "Developer"]);
    let admin_role = &v["roles"][0];
    assert_eq!(admin_role["admin"], true);
    assert_eq!(admin_role["default"], true);
    assert_eq!(admin_role["permissions"]["users_and_roles"], true);
    assert_eq!(admin_role["rules"][0]["assets"], json!(["$all"]));
    assert_eq!(v["roles"][1]["permissions"]["stack_settings"], false);
    assert_eq!(v["roles"][2]["permissions"]["stack_settings"], true);
    // The owner holds the Admin role.
    assert_eq!(admin_role["users"].as_array().unwrap().len(), 1);

    let folder = admin.folder("Press", None).await;
    admin.environment("staging").await;
    let rules = json!([
        {"module": "folder", "folders": [folder], "propagate_to_children": true,
         "acl": {"read": true, "sub_acl": {"read": true, "create": true}}},
        {"module": "environment", "environments": ["staging"], "acl": {"read": true}},
        {"module": "locale", "locales": ["en-us"], "acl": {"read": true}},
        {"module": "content_type", "content_types": ["$all"], "acl": {"read": true}},
    ]);
    let uid = create_role(&admin, "Press office", rules.clone()).await;
    let (st, v) = admin.get(&format!("/v3/roles/{uid}")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["role"]["rules"], rules, "rules come back as sent");
    assert_eq!(v["role"]["default"], false);

    // The official SDKs send the whole fetched role back on update.
    let mut whole = v["role"].clone();
    whole["name"] = json!("Press team");
    let (st, v) = admin
        .call(
            Method::PUT,
            &format!("/v3/roles/{uid}"),
            Some(json!({ "role": whole })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["role"]["name"], "Press team");
    assert_eq!(v["role"]["rules"], rules);

    // Rules that name nothing of the stack, a taken name, a bad shape: 422, nothing stored.
    for (body, field) in [
        (
            json!({"role": {"name": "x", "rules": [{"module": "folder", "folders": ["blt0000000000000000"], "acl": {"read": true}}]}}),
            "rules",
        ),
        (
            json!({"role": {"name": "x", "rules": [{"module": "asset", "acl": {"read": true}}]}}),
            "rules",
        ),
        (
            json!({"role": {"name": "x", "rules": [{"module": "environment", "environments": ["nowhere"]}]}}),
            "rules",
        ),
        (
            json!({"role": {"name": "x", "rules": {"module": "asset"}}}),
            "rules",
        ),
        (json!({"role": {"name": "Press team", "rules": []}}), "name"),
        (json!({"role": {"rules": []}}), "name"),
    ] {
        let v = assert_error(
            admin
                .call(Method::POST, "/v3/roles", Some(body.clone()))
                .await,
            422,
            422,
        );
        assert!(v["errors"][field].is_array(), "{body}: {v}");
    }
    let (_, v) = admin.get("/v3/roles?include_count=true").await;
    assert_eq!(v["count"], 4, "only the one custom role was added");

    // Built-in roles keep their meaning: not changed, not deleted.
    let cm = role_uid(&admin, "Content Manager").await;
    assert_error(
        admin
            .call(Method::DELETE, &format!("/v3/roles/{cm}"), None)
            .await,
        422,
        422,
    );
    assert_error(
        admin
            .call(
                Method::PUT,
                &format!("/v3/roles/{cm}"),
                Some(json!({"role": {"name": "Editor"}})),
            )
            .await,
        422,
        422,
    );
    assert_eq!(role_uid(&admin, "Content Manager").await, cm);

    // A held role cannot be deleted until its members have another one.
    let m = member(&t, &admin, "press@example.com", std::slice::from_ref(&uid)).await;
    let v = assert_error(
        admin
            .call(Method::DELETE, &format!("/v3/roles/{uid}"), None)
            .await,
        422,
        422,
    );
    assert!(
        v["errors"]["role"][0]
            .as_str()
            .unwrap()
            .contains("held by 1"),
        "{v}"
    );
    let (_, me) = m.get("/v3/user").await;
    let m_uid = me["user"]["uid"].as_str().unwrap().to_owned();
    let (st, v) = admin
        .call(
            Method::POST,
            "/v3/stacks/users/roles",
            Some(json!({"users": {&m_uid: [&cm]}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, v) = admin.get("/v3/stacks/users/roles").await;
    assert_eq!(v["users"][&m_uid], json!([cm]));
    let (st, v) = admin
        .call(Method::DELETE, &format!("/v3/roles/{uid}"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["notice"], "The role deleted successfully.");
    assert_error(admin.get(&format!("/v3/roles/{uid}")).await, 404, 141);

    // A Content Manager manages no roles.
    forbidden(
        m.call(
            Method::POST,
            "/v3/roles",
            Some(json!({"role": {"name": "mine", "rules": []}})),
        )
        .await,
    );
    let (_, v) = admin.get("/v3/roles?include_count=true").await;
    assert_eq!(v["count"], 3);
}

#[tokio::test]
async fn built_in_roles_split_the_stack_between_admins_developers_and_content_managers() {
    let t = TestApp::spawn().await;
    let admin = t.admin().await;
    let (dev_role, cm_role, admin_role) = (
        role_uid(&admin, "Developer").await,
        role_uid(&admin, "Content Manager").await,
        role_uid(&admin, "Admin").await,
    );
    let dev = member(
        &t,
        &admin,
        "dev@example.com",
        std::slice::from_ref(&dev_role),
    )
    .await;
    let cm = member(&t, &admin, "cm@example.com", std::slice::from_ref(&cm_role)).await;
    // Sharing without roles makes a Content Manager.
    let plain = t.new_user("plain@example.com").await;
    let (st, _) = admin
        .call(
            Method::POST,
            "/v3/stacks/share",
            Some(json!({"emails": ["plain@example.com"]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, me) = plain.get("/v3/user").await;
    let plain_uid = me["user"]["uid"].as_str().unwrap().to_owned();
    let (_, v) = admin.get("/v3/stacks/users/roles").await;
    assert_eq!(v["users"][&plain_uid], json!([cm_role]));

    // A Content Manager does everything to assets, nothing to the stack's settings.
    let a = cm.upload("cm.txt", b"from a content manager").await;
    let a_uid = a["uid"].as_str().unwrap();
    let (st, _) = cm
        .call(
            Method::PUT,
            &format!("/v3/assets/{a_uid}"),
            Some(json!({"asset": {"title": "renamed"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    for (method, path, body) in [
        (
            Method::POST,
            "/v3/environments",
            json!({"environment": {"name": "prod"}}),
        ),
        (
            Method::POST,
            "/v3/stacks/settings",
            json!({"stack_settings": {"secure_asset_urls": true}}),
        ),
        (
            Method::POST,
            "/v3/stacks/management_tokens",
            json!({"token": {"name": "t", "scope": [{"module": "asset", "acl": {"read": true}}]}}),
        ),
        (
            Method::POST,
            "/v3/webhooks",
            json!({"webhook": {"name": "w", "destinations": [{"target_url": "http://127.0.0.1:9/"}], "channels": ["assets.create"]}}),
        ),
        (
            Method::POST,
            "/v3/stacks/share",
            json!({"emails": ["dev@example.com"]}),
        ),
        (Method::DELETE, "/v3/trash", json!({})),
    ] {
        forbidden(cm.call(method.clone(), path, Some(body)).await);
    }
    let (_, v) = admin.get("/v3/environments").await;
    assert_eq!(v["environments"].as_array().unwrap().len(), 0, "{v}");
    let (_, v) = admin.get("/v3/stacks/settings").await;
    assert_eq!(v["stack_settings"]["secure_asset_urls"], false);
    let (_, v) = admin.get("/v3/stacks/management_tokens").await;
    assert_eq!(v["tokens"].as_array().unwrap().len(), 0, "{v}");

    // A Developer manages settings, environments, tokens and roles; not the Admin role,
    // not removing members, not emptying the trash.
    let (st, v) = dev
        .call(
            Method::POST,
            "/v3/environments",
            Some(json!({"environment": {"name": "prod"}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = dev
        .call(
            Method::POST,
            "/v3/stacks/management_tokens",
            Some(json!({"token": {"name": "t", "scope": [{"module": "asset", "acl": {"read": true}}]}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    create_role(&dev, "Dev-made", json!([])).await;
    let (_, me) = cm.get("/v3/user").await;
    let cm_uid = me["user"]["uid"].as_str().unwrap().to_owned();
    forbidden(
        dev.call(
            Method::POST,
            "/v3/stacks/users/roles",
            Some(json!({"users": {&cm_uid: [&admin_role]}})),
        )
        .await,
    );
    forbidden(
        dev.call(
            Method::POST,
            "/v3/stacks/unshare",
            Some(json!({"email": "cm@example.com"})),
        )
        .await,
    );
    forbidden(dev.call(Method::DELETE, "/v3/trash", None).await);
    let (_, v) = admin.get("/v3/stacks/users/roles").await;
    assert_eq!(v["users"][&cm_uid], json!([cm_role]), "unchanged");

    // The owner is always Admin: their roles cannot be changed.
    let (_, me) = admin.get("/v3/user").await;
    let owner = me["user"]["uid"].as_str().unwrap().to_owned();
    assert_eq!(v["users"][&owner], json!([admin_role]));
    assert_error(
        admin
            .call(
                Method::POST,
                "/v3/stacks/users/roles",
                Some(json!({"users": {&owner: [&cm_role]}})),
            )
            .await,
        422,
        422,
    );
    // An Admin may hand out the Admin role; the new Admin then empties the trash.
    let (st, _) = admin
        .call(
            Method::POST,
            "/v3/stacks/users/roles",
            Some(json!({"users": {&cm_uid: [&admin_role]}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = cm.call(Method::DELETE, "/v3/trash", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

/// A database from before roles (schema v16) gets the built-in roles for every stack, and
/// every member the Admin role: nobody loses what they could do.
#[tokio::test]
async fn migrating_to_roles_keeps_every_member_able_to_do_what_they_did() {
    let mut t = TestApp::spawn().await;
    let mut admin = t.admin().await;
    let mut old_member = t.new_user("before@example.com").await;
    let (st, _) = admin
        .call(
            Method::POST,
            "/v3/stacks/share",
            Some(json!({"emails": ["before@example.com"]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    t.stop().await.unwrap();
    let undo =
        "DROP TABLE member_roles; DROP TABLE roles; DELETE FROM perma_migrations WHERE version = 17;";
    crate::rawdb::run_sql(&t, undo, &[]).await;
    t.restart().await;
    admin.base = t.base.clone();
    old_member.base = t.base.clone();
    old_member.api_key = admin.api_key.clone();
    let (_, v) = admin.get("/v3/roles?include_count=true").await;
    assert_eq!(v["count"], 3, "{v}");
    let admin_role = role_uid(&admin, "Admin").await;
    let (_, me) = old_member.get("/v3/user").await;
    let uid = me["user"]["uid"].as_str().unwrap().to_owned();
    let (_, v) = admin.get("/v3/stacks/users/roles").await;
    assert_eq!(v["users"][&uid], json!([admin_role]), "{v}");
    let (st, v) = old_member
        .call(
            Method::POST,
            "/v3/environments",
            Some(json!({"environment": {"name": "still-allowed"}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
}

/// Sharing with an e-mail that has no account invites its owner: the account waits without a
/// password until its first sign-in, with the invitation, sets one.
#[tokio::test]
async fn people_without_an_account_are_invited_and_set_their_password_once() {
    let t = TestApp::spawn().await;
    let admin = t.admin().await;
    let dev = role_uid(&admin, "Developer").await;
    let (st, v) = admin
        .call(
            Method::POST,
            "/v3/stacks/share",
            Some(json!({"emails": ["New.Person@example.com"], "roles": {"new.person@example.com": [&dev]}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let inv = &v["invitations"][0];
    assert_eq!(inv["email"], "new.person@example.com");
    let token = inv["invitation_token"].as_str().unwrap().to_owned();
    assert!(inv["expires_at"].as_str().unwrap().ends_with('Z'));
    let login = |body: Value| {
        let anon = t.anon();
        async move {
            anon.call(
                Method::POST,
                "/v3/user-session",
                Some(json!({ "user": body })),
            )
            .await
        }
    };
    // No password works before the invitation is used; a wrong invitation neither.
    for body in [
        json!({"email": "new.person@example.com", "password": ""}),
        json!({"email": "new.person@example.com", "password": "anything-at-all"}),
        json!({"email": "new.person@example.com", "password": "good-password", "invitation_token": "inv_wrong"}),
    ] {
        let (st, v) = login(body.clone()).await;
        assert!(
            st == StatusCode::UNAUTHORIZED || st == StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {st} {v}"
        );
    }
    assert_error(
        login(json!({"email": "new.person@example.com", "password": "short", "invitation_token": token})).await,
        422,
        422,
    );
    let (st, v) = login(json!({"email": "new.person@example.com", "password": "good-password", "invitation_token": token})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let mut person = t.anon();
    person.authtoken = v["user"]["authtoken"].as_str().map(str::to_owned);
    person.api_key = admin.api_key.clone();
    // They hold the role they were given: a Developer manages environments.
    let (st, v) = person
        .call(
            Method::POST,
            "/v3/environments",
            Some(json!({"environment": {"name": "dev-made"}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    // The invitation is used up; the password now works on its own.
    assert_error(
        login(json!({"email": "new.person@example.com", "password": "other-password", "invitation_token": token})).await,
        401,
        104,
    );
    let (st, _) =
        login(json!({"email": "new.person@example.com", "password": "good-password"})).await;
    assert_eq!(st, StatusCode::OK);
    // The audit log says who invited them.
    let (_, v) = admin
        .get("/v3/audit-logs?module=member&include_count=true")
        .await;
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(v["logs"][0]["metadata"]["title"], "new.person@example.com");
    // A Content Manager invites nobody.
    let cm = role_uid(&admin, "Content Manager").await;
    let m = member(&t, &admin, "cm@example.com", std::slice::from_ref(&cm)).await;
    forbidden(
        m.call(
            Method::POST,
            "/v3/stacks/share",
            Some(json!({"emails": ["other@example.com"]})),
        )
        .await,
    );
    assert_error(
        login(json!({"email": "other@example.com", "password": "whatever-pass"})).await,
        401,
        104,
    );
}
