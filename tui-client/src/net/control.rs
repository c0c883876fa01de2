//! REST calls that are not part of the comparison, so they are not counted:
//! the server's `/stats`, and the change the `n` key makes.

use std::sync::Arc;
use std::time::Duration;

use pollpush_shared::{NewSpecies, ServerStats, Species, UpdateSpecies};
use rand::Rng;
use tokio::sync::mpsc;

use super::counting::Traffic;
use super::{Endpoints, NetError, Nodes, http};
use crate::app::nodes::next_node;
use crate::event::Event;

/// Reads `GET /stats` every `period` until the event channel closes, from the
/// node that answered last; when it does not answer, from the next one that does.
pub async fn watch_stats(nodes: Nodes, period: std::time::Duration, events: mpsc::Sender<Event>) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut current = 0;
    loop {
        interval.tick().await;
        let (node, result) = first_answer(&nodes, &mut current).await;
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

/// Asks node `current` and, while they fail, the nodes after it, each once;
/// leaves `current` on the node that answered. Returns who answered (or failed last).
async fn first_answer(
    nodes: &Nodes,
    current: &mut usize,
) -> (String, Result<Box<ServerStats>, String>) {
    let mut failed = (String::new(), Err(String::new()));
    for _ in 0..nodes.len() {
        let node = nodes.get(*current);
        let label = node.label().to_owned();
        match stats(node, None).await {
            Ok(stats) => return (label, Ok(Box::new(stats))),
            Err(error) if nodes.len() == 1 => failed = (label, Err(error.to_string())),
            Err(error) => {
                // The footer has one line for it: which node failed last is in `label`.
                let error = format!("no node answers ({error})");
                failed = (label, Err(error));
            }
        }
        *current = next_node(*current, nodes.len());
    }
    failed
}

/// Longest an uncounted call may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A client for the uncounted calls.
pub fn client() -> reqwest::Client {
    writer(None)
}

/// A client for the uncounted calls that sends `Authorization: Bearer TOKEN`
/// on each, for a server started with `--write-token`.
pub fn writer(token: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(Ok(mut value)) =
        token.map(|t| reqwest::header::HeaderValue::from_str(&format!("Bearer {t}")))
    {
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .default_headers(headers)
        .build()
        .unwrap_or_default()
}

/// `GET /stats`, on a connection of its own and uncounted, under TLS for an
/// `https://` server (the lanes' own connection code, so `--ca-cert` applies);
/// with the write token when one is given.
pub async fn stats(endpoints: &Endpoints, token: Option<&str>) -> Result<ServerStats, NetError> {
    let (status, body) = tokio::time::timeout(TIMEOUT, get_stats(endpoints, token))
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

async fn get_stats(
    endpoints: &Endpoints,
    token: Option<&str>,
) -> Result<(::http::StatusCode, Vec<u8>), NetError> {
    let uncounted = Arc::new(Traffic::default());
    let mut sender = http::handshake(endpoints.dial_http(uncounted).await?).await?;
    let mut headers = vec![(::http::header::ACCEPT, "application/json".to_owned())];
    if let Some(token) = token {
        headers.push((::http::header::AUTHORIZATION, format!("Bearer {token}")));
    }
    let request = http::get(endpoints, "/stats", &headers)?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    Ok((status, http::read_body(response.into_body()).await?))
}

/// Makes one change now: one more observation of a random species, or a new
/// species when there is none. Returns what it did, for the footer.
pub async fn write_now(
    client: &reqwest::Client,
    endpoints: &Endpoints,
) -> Result<String, NetError> {
    let url = format!("{}/species", endpoints.http);
    let list: Vec<Species> = client
        .get(&url)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let response = if list.is_empty() {
        let body = NewSpecies {
            id: None,
            name: "Tomate".into(),
            observations: Some(1),
        };
        client.post(&url).json(&body).send().await?
    } else {
        let pick = &list[rand::rng().random_range(0..list.len())];
        let body = UpdateSpecies {
            name: pick.name.clone(),
            observations: Some(pick.observations + 1),
        };
        client
            .put(format!("{url}/{}", pick.id))
            .json(&body)
            .send()
            .await?
    };
    let method = if list.is_empty() { "POST" } else { "PUT" };
    let what = format!("{method} {} → {}", response.url().path(), response.status());
    if response.status() == reqwest::StatusCode::UNAUTHORIZED {
        return Err(NetError::Unexpected(format!(
            "{what}: this server needs its write token (--token or POLLPUSH_TOKEN)"
        )));
    }
    let response = response.error_for_status()?;
    let revision = response
        .headers()
        .get("x-revision")
        .and_then(|v| v.to_str().ok())
        .map(|r| format!(", revision {r}"))
        .unwrap_or_default();
    let species: Species = response.json().await?;
    Ok(format!(
        "{what}: {} now has {} observations{revision}",
        species.name, species.observations
    ))
}
