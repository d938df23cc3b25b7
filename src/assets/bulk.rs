//! Bulk operations (§5 `POST /v3/bulk/publish`, `/unpublish` and `/delete`): one job per
//! request, run in the background, with a status and a result per asset. The job and its items are
//! rows written before the answer, so a job cut short by a restart is resumed by
//! [`resume_bulk_jobs`] (publishing is idempotent; an item may then be applied twice,
//! never lost).

use super::versions::publish_targets;
use crate::db::Db;
use crate::delivery::Changes;
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::ids;
use crate::records::{BulkItem, BulkJob};
use crate::time::now_ms;

/// Most assets in one job.
pub const MAX_BULK_ITEMS: usize = 10_000;

/// What a bulk job does to each of its assets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BulkAction {
    /// Publish (the given or the current version).
    #[default]
    Publish,
    /// Withdraw.
    Unpublish,
    /// Delete, exactly as `DELETE /v3/assets/{uid}` does.
    Delete,
}

impl BulkAction {
    /// The name jobs record (`action`).
    pub fn as_str(self) -> &'static str {
        match self {
            BulkAction::Publish => "publish",
            BulkAction::Unpublish => "unpublish",
            BulkAction::Delete => "delete",
        }
    }

    fn parse(s: &str) -> Option<BulkAction> {
        [
            BulkAction::Publish,
            BulkAction::Unpublish,
            BulkAction::Delete,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// A bulk request, parsed from the CMA body.
#[derive(Debug, Clone, Default)]
pub struct BulkRequest {
    /// What to do.
    pub action: BulkAction,
    /// Assets, each with an optional version (default: the current one).
    pub assets: Vec<(String, Option<i64>)>,
    /// Environments (names or uids; publishing only).
    pub environments: Vec<String>,
    /// Locales (default: the master locale).
    pub locales: Vec<String>,
}

/// Validates a bulk request, stores it as a job and starts it. Returns the job.
pub async fn start_bulk_job(
    db: &Db,
    changes: &Changes,
    access: &StackAccess,
    r: BulkRequest,
) -> Result<BulkJob> {
    access.require_write()?;
    if r.assets.is_empty() {
        return Err(Error::field("assets", "can't be blank"));
    }
    if r.assets.len() > MAX_BULK_ITEMS {
        return Err(Error::field(
            "assets",
            format!("at most {MAX_BULK_ITEMS} per request"),
        ));
    }
    // Environments and locales are checked now, so a bad one is a 422, not a failed job.
    if r.action != BulkAction::Delete {
        publish_targets(db, access, &r.environments, &r.locales).await?;
    }
    let now = now_ms();
    let job = BulkJob {
        uid: ids::new_uid(),
        api_key: access.stack.api_key.clone(),
        action: r.action.as_str().into(),
        environments: r.environments,
        locales: r.locales,
        status: "pending".into(),
        created_by: access.actor.uid().to_owned(),
        created_at: now,
        updated_at: now,
        total: 0,
        done: 0,
    };
    let items: Vec<BulkItem> = r
        .assets
        .into_iter()
        .map(|(asset_uid, version)| BulkItem {
            asset_uid,
            version,
            status: "pending".into(),
            error: None,
        })
        .collect();
    db.insert_bulk_job(&job, &items).await?;
    spawn(db.clone(), changes.clone(), access.clone(), job.clone());
    Ok(job)
}

/// A job of the stack with its items.
pub async fn bulk_job(
    db: &Db,
    access: &StackAccess,
    uid: &str,
) -> Result<(BulkJob, Vec<BulkItem>)> {
    access.require_read()?;
    let job = db
        .bulk_job(&access.stack.api_key, uid)
        .await?
        .ok_or(Error::NotFound("Job"))?;
    let items = db.bulk_items(&job.uid).await?;
    Ok((job, items))
}

/// Resumes every job a previous run left unfinished (called once at start-up). The job
/// runs as its creator; one who lost access meanwhile gets every item failed.
pub async fn resume_bulk_jobs(db: &Db, changes: &Changes, restore_chunk: usize) -> Result<usize> {
    let jobs = db.unfinished_bulk_jobs().await?;
    let n = jobs.len();
    for job in jobs {
        if job.action == "restore" {
            // A folder coming back from the trash (§15): it runs as the system would.
            super::trash::spawn_restore(db.clone(), changes.clone(), job, restore_chunk);
            continue;
        }
        let Some(stack) = db.stack(&job.api_key).await? else {
            continue;
        };
        let actor = match db.user(&job.created_by).await? {
            Some(u) => crate::identity::Actor::User(u),
            None => match db
                .tokens(&job.api_key, crate::records::TokenKind::Management)
                .await?
                .into_iter()
                .find(|t| t.uid == job.created_by)
            {
                Some(t) => crate::identity::Actor::Token(t),
                None => {
                    db.set_bulk_status(&job.uid, "failed", now_ms()).await?;
                    continue;
                }
            },
        };
        match StackAccess::of(db, stack, actor).await? {
            Some(access) => spawn(db.clone(), changes.clone(), access, job),
            None => db.set_bulk_status(&job.uid, "failed", now_ms()).await?,
        }
    }
    Ok(n)
}

fn spawn(db: Db, changes: Changes, access: StackAccess, job: BulkJob) {
    tokio::spawn(async move {
        if let Err(e) = run(&db, &changes, &access, &job).await {
            tracing::error!(job = %job.uid, "bulk job failed: {e:#}");
            let _ = db.set_bulk_status(&job.uid, "failed", now_ms()).await;
        }
    });
}

/// Works through a job's pending items, recording each result.
async fn run(
    db: &Db,
    changes: &Changes,
    access: &StackAccess,
    job: &BulkJob,
) -> anyhow::Result<()> {
    db.set_bulk_status(&job.uid, "in_progress", now_ms())
        .await?;
    let action = BulkAction::parse(&job.action)
        .ok_or_else(|| anyhow::anyhow!("unknown bulk action {:?}", job.action))?;
    let targets = match action {
        BulkAction::Delete => None,
        _ => Some(publish_targets(db, access, &job.environments, &job.locales).await),
    };
    for item in db.bulk_items(&job.uid).await? {
        if item.status != "pending" {
            continue;
        }
        let result = match &targets {
            None => super::change::delete(db, changes, access, &item.asset_uid).await,
            Some(Ok(t)) => {
                let unpublish = action == BulkAction::Unpublish;
                super::versions::publish_to(db, access, &item.asset_uid, t, item.version, unpublish)
                    .await
            }
            Some(Err(e)) => Err(Error::Forbidden(e.public_message().0)),
        };
        let error = match result {
            Ok(()) => None,
            Err(Error::Internal(e)) => return Err(e),
            Err(e) => Some(e.public_message().0),
        };
        db.finish_bulk_item(&job.uid, &item.asset_uid, error.as_deref())
            .await?;
    }
    db.set_bulk_status(&job.uid, "completed", now_ms()).await?;
    Ok(())
}
