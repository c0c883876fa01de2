//! The long-poll lane: `GET /species` with the last ETag and `Prefer: wait=N`,
//! which the server holds until the list changes (`200`) or N seconds pass
//! (`304`), asked again at once after every answer. Same connection, same
//! byte counting and same request as the poll lane; only the wait differs.
//!
//! Like the poll lane it stays on the first node of a cluster: each request
//! stands alone, so there is no stream to resume elsewhere.

use std::sync::Arc;
use std::time::Duration;

use super::counting::Traffic;
use super::poll::{Lister, REQUEST_TIMEOUT};
use super::{Backoff, Endpoints, Sink};
use crate::event::{LaneEvent, LaneUpdate};
use crate::lane::LaneKind;

/// Long-polls until the sink refuses an event, asking the server to hold each
/// request up to `wait`.
pub async fn run(
    endpoints: Endpoints,
    wait: Duration,
    traffic: Arc<Traffic>,
    mut sink: impl Sink<LaneEvent>,
) {
    let mut lister = Lister::new(endpoints, traffic);
    let mut backoff = Backoff::default();
    // A held request is not a slow one: it may take the whole wait, then some.
    let timeout = wait + REQUEST_TIMEOUT;
    loop {
        let update = lister.fetch(true, Some(wait), timeout, &mut backoff).await;
        let retry = match &update {
            LaneUpdate::Failed { retry_in, .. } => Some(*retry_in),
            _ => None,
        };
        if !sink.deliver(lister.event(LaneKind::LongPoll, update)).await {
            return;
        }
        if let Some(retry) = retry {
            tokio::time::sleep(retry).await;
        }
    }
}
