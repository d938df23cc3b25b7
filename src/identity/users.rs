//! Users and their sign-in (§1, §14): passwords (argon2id), the first account, invitations,
//! sessions, and the audit entry a failed sign-in leaves.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use super::Origin;
use crate::db::audit::AuditEntry;
use crate::db::sso::SSO_PASSWORD_HASH;
use crate::db::{is_unique_violation, Db};
use crate::error::{Error, Result};
use crate::ids;
use crate::records::{Organization, User};
use crate::time::now_ms;

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes).
pub async fn hash_password(password: &str) -> anyhow::Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    })
    .await?
}

async fn verify_password(hash: &str, password: &str) -> bool {
    let (hash, password) = (hash.to_owned(), password.to_owned());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// Creates the default organization on first start, and the admin user when configured.
pub async fn bootstrap(db: &Db, admin: Option<(&str, &str)>) -> anyhow::Result<()> {
    let org = match db.default_organization().await? {
        Some(o) => o,
        None => {
            let o = Organization {
                uid: ids::new_uid(),
                name: "Default organization".into(),
                is_default: true,
                created_at: now_ms(),
            };
            db.insert_organization(&o).await?;
            o
        }
    };
    if let Some((email, password)) = admin {
        if db.user_by_email(&email.to_lowercase()).await?.is_none() {
            create_user_in(db, &org, email, NewAccount::Password(password))
                .await
                .map_err(|e| anyhow::anyhow!("creating admin user: {e}"))?;
            tracing::info!(%email, "created admin user");
        }
    }
    Ok(())
}

/// Creates a user in the default organization.
pub async fn create_user(db: &Db, email: &str, password: &str) -> Result<User> {
    let org = db
        .default_organization()
        .await?
        .ok_or_else(|| anyhow::anyhow!("no default organization; run migrations first"))?;
    create_user_in(db, &org, email, NewAccount::Password(password)).await
}

/// How long an invitation stays valid (7 days).
pub const INVITATION_TTL_MS: i64 = 7 * 86_400_000;

/// An invitation (§14): the invited account and the secret with which its owner sets a
/// password at their first sign-in (shown once; only its hash is stored).
#[derive(Debug, Clone)]
pub struct Invitation {
    /// The account, without a password until the invitation is used.
    pub user: User,
    /// The secret.
    pub token: String,
    /// When it stops working (ms).
    pub expires_at: i64,
}

/// Invites a person by e-mail: an account without a password in the default organization,
/// or, for an account still waiting for its first sign-in, a new invitation. `None` for an
/// account that already has a password (it needs no invitation).
pub async fn invite(db: &Db, email: &str, by: &str) -> Result<Option<Invitation>> {
    let email = email.trim().to_lowercase();
    let user = match db.user_by_email(&email).await? {
        Some((_, hash)) if !hash.is_empty() => return Ok(None),
        Some((u, _)) => u,
        None => {
            let org = db
                .default_organization()
                .await?
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("no default organization")))?;
            create_user_in(db, &org, &email, NewAccount::Invited).await?
        }
    };
    let token = ids::new_secret("inv");
    let now = now_ms();
    let expires_at = now + INVITATION_TTL_MS;
    db.insert_invitation(&ids::hash_token(&token), &user.uid, by, (now, expires_at))
        .await?;
    Ok(Some(Invitation {
        user,
        token,
        expires_at,
    }))
}

fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < 8 {
        return Err(Error::field("password", "must be at least 8 characters"));
    }
    Ok(())
}

/// How a new account signs in.
pub(super) enum NewAccount<'a> {
    /// With this password.
    Password(&'a str),
    /// Not yet: an invitation sets its password (an empty hash, which no password matches).
    Invited,
    /// Only through single sign-on (a hash no password matches and no invitation replaces).
    SignOn,
}

/// Creates a user in `org`.
pub(super) async fn create_user_in(
    db: &Db,
    org: &Organization,
    email: &str,
    how: NewAccount<'_>,
) -> Result<User> {
    let email = email.trim().to_lowercase();
    let valid_email = email
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !email.contains(' '));
    if !valid_email {
        return Err(Error::field("email", "is not a valid email address"));
    }
    let hash = match how {
        NewAccount::Password(p) => {
            check_password(p)?;
            hash_password(p).await?
        }
        NewAccount::Invited => String::new(),
        NewAccount::SignOn => SSO_PASSWORD_HASH.to_owned(),
    };
    let now = now_ms();
    let user = User {
        uid: ids::new_uid(),
        email,
        first_name: String::new(),
        last_name: String::new(),
        org_uid: org.uid.clone(),
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    match db.insert_user(&user, &hash).await {
        Ok(()) => Ok(user),
        Err(e) if is_unique_violation(&e) => Err(Error::field("email", "is already taken")),
        Err(e) => Err(e.into()),
    }
}

/// Checks email and password and opens a session. Returns the user and the new authtoken.
pub async fn login(
    db: &Db,
    email: &str,
    password: &str,
    ttl_secs: u64,
    origin: &Origin,
    invitation: Option<&str>,
) -> Result<(User, String)> {
    let found = db.user_by_email(&email.trim().to_lowercase()).await?;
    let Some((user, hash)) = found else {
        // Spend the same time as a real check so that timing does not reveal accounts.
        let _ = verify_password(DUMMY_HASH, password).await;
        return Err(Error::BadLogin);
    };
    if let Some(token) = invitation {
        // First sign-in of an invited account: the invitation sets the password.
        check_password(password)?;
        let new_hash = hash_password(password).await?;
        let accepted = hash.is_empty()
            && db
                .accept_invitation(&user.uid, &ids::hash_token(token), &new_hash, now_ms())
                .await?;
        if !accepted {
            record_failed_sign_in(db, &user, origin, "invitation").await?;
            return Err(Error::BadLogin);
        }
    } else if !verify_password(&hash, password).await {
        record_failed_sign_in(db, &user, origin, "password").await?;
        return Err(Error::BadLogin);
    }
    open_session(db, user, ttl_secs, origin).await
}

/// Opens a session for a user whose identity was proven, unless the account is disabled
/// (refused, and recorded as a failed sign-in).
pub(super) async fn open_session(
    db: &Db,
    user: User,
    ttl_secs: u64,
    origin: &Origin,
) -> Result<(User, String)> {
    if user.disabled {
        record_failed_sign_in(db, &user, origin, "disabled").await?;
        return Err(disabled());
    }
    let token = ids::new_secret("");
    let now = now_ms();
    db.insert_session(
        &ids::hash_token(&token),
        &user.uid,
        now,
        now + (ttl_secs as i64) * 1000,
    )
    .await?;
    Ok((user, token))
}

/// The answer to any sign-in of a disabled account.
pub(super) fn disabled() -> Error {
    Error::Forbidden("This account is disabled. Ask an administrator of perma.".into())
}

/// Disables an account (it cannot sign in in any way, and its sessions end at once) or
/// enables it again: `perma user disable|enable`.
pub async fn set_disabled(db: &Db, email: &str, disabled: bool) -> Result<User> {
    let (user, _) = db
        .user_by_email(&email.trim().to_lowercase())
        .await?
        .ok_or(Error::NotFound("User"))?;
    db.set_user_disabled(&user.uid, disabled, now_ms()).await?;
    Ok(User { disabled, ..user })
}

/// A failed sign-in of an account (a wrong password or invitation, a disabled account)
/// lands in the audit log of every stack it is a member of (§14): its Admins see attempts
/// on their members' accounts. (Password attempts are throttled before they get here, and
/// sign-on attempts need a finished sign-in at the provider, so the log cannot be flooded.)
pub(super) async fn record_failed_sign_in(
    db: &Db,
    user: &User,
    origin: &Origin,
    reason: &str,
) -> Result<()> {
    let entries: Vec<AuditEntry> = db
        .member_stacks(&user.uid)
        .await?
        .into_iter()
        .map(|api_key| {
            AuditEntry::by_user(&api_key, "user", "sign_in_failed", &user.uid, &user.email)
                .item(&user.uid, &user.email, None)
                .details(serde_json::json!({ "reason": reason }))
                .from_request(
                    origin.client.map(|c| c.to_string()),
                    origin.request_id.clone(),
                )
        })
        .collect();
    if !entries.is_empty() {
        db.record_audit(&entries).await?;
    }
    Ok(())
}

const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0nV0ZzYwM3S8Jj7UyBw9+2v1n2kZ0T2sQ9bXh0m9x0Q";

/// Ends the session behind an authtoken.
pub async fn logout(db: &Db, authtoken: &str) -> Result<()> {
    if db.delete_session(&ids::hash_token(authtoken)).await? {
        Ok(())
    } else {
        Err(Error::Unauthorized)
    }
}
