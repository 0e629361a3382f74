//! The usage-metering job: count one batch of usage events, see `billing::usage::meter_batch`.

use super::JobError;
use crate::runner::Ctx;
use serde_json::Value;
use uuid::Uuid;

pub async fn handle(ctx: &Ctx, batch_id: &str) -> Result<Value, JobError> {
    let id = Uuid::parse_str(batch_id).map_err(|e| JobError::Terminal(format!("batch id {batch_id}: {e}")))?;
    let done = billing::usage::meter_batch(&ctx.db, id).await?;
    serde_json::to_value(done).map_err(|e| JobError::Terminal(e.to_string()))
}
