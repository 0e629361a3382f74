//! The usage-metering job: count one batch of usage events, see `billing::usage::meter_batch`.

use super::JobError;
use crate::runner::Ctx;
use uuid::Uuid;

pub async fn handle(ctx: &Ctx, batch_id: &str) -> Result<billing::usage::Metered, JobError> {
    let id = Uuid::parse_str(batch_id).map_err(|e| JobError::Terminal(format!("batch id {batch_id}: {e}")))?;
    Ok(billing::usage::meter_batch(&ctx.db, id).await?)
}
