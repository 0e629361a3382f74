//! The job outbox: every job is a row first, written with the intent it serves.

use crate::enums::*;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub queue: JobQueue,
    #[sea_orm(column_type = "Text")]
    pub job_key: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    pub status: JobStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    pub available_at: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub result: Option<Json>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    /// When the job was dead-lettered (cleared when it is requeued): what operators list.
    pub dead_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
