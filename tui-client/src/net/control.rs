//! REST calls that are not part of the comparison, so they are not counted:
//! the server's `/stats`, and the change the `n` key makes. They go through the
//! lanes' own HTTP code (TLS with `--ca-cert`, `--http`), each on a connection
//! kept alive across calls: a `/stats` a second must not cost a handshake a second.

use std::sync::Arc;
use std::time::Duration;

use pollpush_shared::{NewSpecies, ServerStats, Species, UpdateSpecies};
use rand::Rng;
use tokio::sync::{Mutex, mpsc};

use super::counting::Traffic;
use super::http::{self, KeptAlive};
use super::{Endpoints, NetError, Nodes};
use crate::app::nodes::next_node;
use crate::event::Event;

/// Reads `GET /stats` every `period` until the event channel closes, from the
/// node that answered last; when it does not answer, from the next one that does.
pub async fn watch_stats(nodes: Nodes, period: std::time::Duration, events: mpsc::Sender<Event>) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut connections: Vec<KeptAlive> = nodes.all().iter().map(uncounted).collect();
    let mut current = 0;
    loop {
        interval.tick().await;
        let (node, result) = first_answer(&mut connections, &mut current).await;
        let at = pollpush_shared::time::now();
        if events
            .send(Event::Stats { at, node, result })
            .await
            .is_err()
        {
            return;
        }
    }
}

/// A connection to `endpoints` whose bytes no lane counts, without the
/// lanes' profile and link: these calls are not part of the comparison.
fn uncounted(endpoints: &Endpoints) -> KeptAlive {
    KeptAlive::new(endpoints.bare(), Arc::new(Traffic::default()))
}

/// Asks node `current` and, while they fail, the nodes after it, each once;
/// leaves `current` on the node that answered. Returns who answered (or failed last).
async fn first_answer(
    nodes: &mut [KeptAlive],
    current: &mut usize,
) -> (String, Result<Box<ServerStats>, String>) {
    let mut failed = (String::new(), Err(String::new()));
    let count = nodes.len();
    for _ in 0..count {
        let node = &mut nodes[*current % count];
        let label = node.endpoints().label().to_owned();
        match stats_on(node, None).await {
            Ok(stats) => return (label, Ok(Box::new(stats))),
            Err(error) if count == 1 => failed = (label, Err(error.to_string())),
            Err(error) => {
                // The footer has one line for it: which node failed last is in `label`.
                let error = format!("no node answers ({error})");
                failed = (label, Err(error));
            }
        }
        *current = next_node(*current, count);
    }
    failed
}

/// Longest an uncounted call may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// `GET /stats` once, uncounted, under TLS for an `https://` server; with the
/// write token when one is given.
pub async fn stats(endpoints: &Endpoints, token: Option<&str>) -> Result<ServerStats, NetError> {
    stats_on(&mut uncounted(endpoints), token).await
}

/// `GET /stats` over `connection`.
async fn stats_on(
    connection: &mut KeptAlive,
    token: Option<&str>,
) -> Result<ServerStats, NetError> {
    let endpoints = connection.endpoints().clone();
    let call = exchange(connection, token, ::http::Method::GET, "/stats", None);
    let (status, _, body) = tokio::time::timeout(TIMEOUT, call)
        .await
        .map_err(|_| NetError::Timeout(TIMEOUT))??;
    let not_pollpush = || NetError::NotPollpush(endpoints.http.clone());
    // Something answers, but not as a pollpush server would.
    if status == ::http::StatusCode::NOT_FOUND {
        return Err(not_pollpush());
    }
    if !status.is_success() {
        return Err(NetError::Status(format!(
            "{status} from {}/stats",
            endpoints.http
        )));
    }
    serde_json::from_slice(&body).map_err(|_| not_pollpush())
}

/// One request over `connection`, with the token, a JSON body when given;
/// its status, headers and whole body.
async fn exchange(
    connection: &mut KeptAlive,
    token: Option<&str>,
    method: ::http::Method,
    path: &str,
    json: Option<String>,
) -> Result<(::http::StatusCode, ::http::HeaderMap, Vec<u8>), NetError> {
    let mut headers = vec![(::http::header::ACCEPT, "application/json".to_owned())];
    if let Some(token) = token {
        headers.push((::http::header::AUTHORIZATION, format!("Bearer {token}")));
    }
    if json.is_some() {
        headers.push((::http::header::CONTENT_TYPE, "application/json".to_owned()));
    }
    let host = connection.endpoints().authority.clone();
    let request = http::request(method, &host, path, &headers, json.unwrap_or_default())?;
    let response = connection.send(request).await?;
    let (parts, body) = response.into_parts();
    Ok((parts.status, parts.headers, http::read_body(body).await?))
}

/// The `n` key's client: the write token, and one kept-alive connection to
/// the node it writes through.
pub struct Writer {
    token: Option<String>,
    connection: Mutex<Option<KeptAlive>>,
}

/// A writer without a token.
pub fn client() -> Writer {
    writer(None)
}

/// A writer that sends `Authorization: Bearer TOKEN` on each call, for a
/// server started with `--write-token`.
pub fn writer(token: Option<&str>) -> Writer {
    Writer {
        token: token.map(str::to_owned),
        connection: Mutex::new(None),
    }
}

/// Makes one change now: one more observation of a random species, or a new
/// species when there is none. Returns what it did, for the footer.
pub async fn write_now(writer: &Writer, endpoints: &Endpoints) -> Result<String, NetError> {
    let mut slot = writer.connection.lock().await;
    if slot
        .as_ref()
        .is_none_or(|c| *c.endpoints() != endpoints.bare())
    {
        *slot = Some(uncounted(endpoints));
    }
    let Some(connection) = slot.as_mut() else {
        return Err(NetError::Unexpected("no connection".into()));
    };
    tokio::time::timeout(TIMEOUT, change(connection, writer.token.as_deref()))
        .await
        .map_err(|_| NetError::Timeout(TIMEOUT))?
}

async fn change(connection: &mut KeptAlive, token: Option<&str>) -> Result<String, NetError> {
    let get = ::http::Method::GET;
    let (status, _, body) = exchange(connection, token, get, "/species", None).await?;
    if !status.is_success() {
        return Err(NetError::Status(format!("{status} from GET /species")));
    }
    let list: Vec<Species> = serde_json::from_slice(&body)?;
    let (method, path, json) = if list.is_empty() {
        let body = NewSpecies {
            id: None,
            name: "Tomate".into(),
            observations: Some(1),
        };
        (
            ::http::Method::POST,
            "/species".to_owned(),
            serde_json::to_string(&body)?,
        )
    } else {
        let pick = &list[rand::rng().random_range(0..list.len())];
        let body = UpdateSpecies {
            name: pick.name.clone(),
            observations: Some(pick.observations + 1),
        };
        let path = format!("/species/{}", pick.id);
        (::http::Method::PUT, path, serde_json::to_string(&body)?)
    };
    let what = format!("{method} {path}");
    let (status, headers, body) = exchange(connection, token, method, &path, Some(json)).await?;
    let what = format!("{what} → {status}");
    if status == ::http::StatusCode::UNAUTHORIZED {
        return Err(NetError::Unexpected(format!(
            "{what}: this server needs its write token (--token or POLLPUSH_TOKEN)"
        )));
    }
    if !status.is_success() {
        return Err(NetError::Status(what));
    }
    let revision = http::header(&headers, "x-revision")
        .map(|r| format!(", revision {r}"))
        .unwrap_or_default();
    let species: Species = serde_json::from_slice(&body)?;
    Ok(format!(
        "{what}: {} now has {} observations{revision}",
        species.name, species.observations
    ))
}
