//! A connection kept alive across requests and opened again when the server
//! closed it: one per request lane, and one for the client's own `/stats`
//! calls, so that a kept-alive lane pays one TLS handshake, not one per request.

use std::sync::Arc;

use hyper::body::Incoming;

use super::Sender;
use crate::net::counting::Traffic;
use crate::net::{Endpoints, NetError};

/// Requests to one node over one connection at a time.
pub struct KeptAlive {
    endpoints: Endpoints,
    traffic: Arc<Traffic>,
    sender: Option<Sender>,
}

impl KeptAlive {
    /// Nothing is opened until the first request; its bytes go to `traffic`.
    pub fn new(endpoints: Endpoints, traffic: Arc<Traffic>) -> Self {
        Self {
            endpoints,
            traffic,
            sender: None,
        }
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    pub fn traffic(&self) -> &Arc<Traffic> {
        &self.traffic
    }

    /// Sends `request`, on a new connection when there is none or the server
    /// closed it; a failure drops the connection so that the next one starts afresh.
    pub async fn send(
        &mut self,
        request: http::Request<String>,
    ) -> Result<http::Response<Incoming>, NetError> {
        let result = self.try_send(request).await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn try_send(
        &mut self,
        request: http::Request<String>,
    ) -> Result<http::Response<Incoming>, NetError> {
        if self.sender.as_ref().is_none_or(Sender::is_closed) {
            self.sender = Some(super::connect(&self.endpoints, self.traffic.clone()).await?);
        }
        match &mut self.sender {
            Some(sender) => sender.send(request).await,
            None => Err(NetError::Unexpected("no connection".into())),
        }
    }

    /// Closes the connection: the next request opens a new one (`--new-connection`).
    pub fn close(&mut self) {
        self.sender = None;
    }
}
