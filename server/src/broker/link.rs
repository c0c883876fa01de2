//! One command connection to Redis, made again after a failure, at most
//! once per retry interval so a dead Redis costs nothing per call.

use std::time::{Duration, Instant};

use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;

/// How long connecting, or one command, may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) struct Link {
    client: redis::Client,
    conn: Option<MultiplexedConnection>,
    retry_at: Instant,
}

impl Link {
    pub fn new(client: redis::Client) -> Self {
        Self {
            client,
            conn: None,
            retry_at: Instant::now(),
        }
    }

    /// The connection, made now if there is none and the last attempt is old enough.
    pub async fn get(&mut self) -> Option<&mut MultiplexedConnection> {
        if self.conn.is_none() && Instant::now() >= self.retry_at {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(CONNECT_TIMEOUT));
            match self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
            {
                Ok(conn) => self.conn = Some(conn),
                Err(_) => self.retry_at = Instant::now() + super::RETRY,
            }
        }
        self.conn.as_mut()
    }

    /// The last command failed: drop the connection, retry later.
    pub fn failed(&mut self) {
        self.conn = None;
        self.retry_at = Instant::now() + super::RETRY;
    }
}
