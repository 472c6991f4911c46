//! Intake: visits, letters and persuade-and-return trips, the cases they open or join, and the petitioners'
//! personal data. docs/intake.md tells its rules.

pub mod batch;
pub mod commands;
pub mod group;
pub mod matching;
pub mod model;
pub mod people;
pub mod service;
pub mod store;
pub mod view;

use std::sync::Arc;

use sqlx::PgConnection;
use uuid::Uuid;

pub use service::IntakeApi;

use crate::{cases::model::Workflow, error::AppError, pii::PiiKeys};

/// Intake settings.
#[derive(Debug, Clone)]
pub struct IntakeConfig {
    /// Code of the county, the middle of every registration number.
    pub county_code: String,
    /// Persons in a batch from which a visit is collective.
    pub collective_threshold: u32,
    /// Persons in a batch from which a visit is a large-scale collective visit (大规模集体访).
    pub large_scale_threshold: u32,
    /// Deadline rules, for the first due date of a case intake opens.
    pub workflow: Arc<Workflow>,
}

/// What intake's commands work with besides the transaction: the personal-data keys and the settings.
pub struct Ctx {
    pub keys: Arc<PiiKeys>,
    pub config: IntakeConfig,
}

/// Records a change of a record in the sync feed, in the caller's transaction.
async fn feed(
    conn: &mut PgConnection,
    kind: &str,
    id: Uuid,
    org: Option<&str>,
    owner: Option<Uuid>,
) -> Result<(), AppError> {
    crate::kernel::feed::append(
        conn,
        &crate::kernel::feed::FeedEntry {
            kind,
            entity_id: id,
            org_code: org,
            previous_org_code: None,
            owner,
            reason: "",
        },
    )
    .await?;
    Ok(())
}
