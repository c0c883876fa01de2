//! REST calls that are not part of the comparison, so they are not counted:
//! the server's `/stats`, and the change the `n` key makes.

use std::time::Duration;

use pollpush_shared::{NewSpecies, ServerStats, Species, UpdateSpecies};
use rand::Rng;
use tokio::sync::mpsc;

use super::{Endpoints, NetError, Nodes};
use crate::app::nodes::next_node;
use crate::event::Event;

/// Reads `GET /stats` every `period` until the event channel closes, from the
/// node that answered last; when it does not answer, from the next one that does.
pub async fn watch_stats(nodes: Nodes, period: std::time::Duration, events: mpsc::Sender<Event>) {
    let client = client();
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut current = 0;
    loop {
        interval.tick().await;
        let (node, result) = first_answer(&client, &nodes, &mut current).await;
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
    client: &reqwest::Client,
    nodes: &Nodes,
    current: &mut usize,
) -> (String, Result<Box<ServerStats>, String>) {
    let mut failed = (String::new(), Err(String::new()));
    for _ in 0..nodes.len() {
        let node = nodes.get(*current);
        let label = node.label().to_owned();
        match stats(client, node).await {
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
        .timeout(Duration::from_secs(5))
        .default_headers(headers)
        .build()
        .unwrap_or_default()
}

pub async fn stats(
    client: &reqwest::Client,
    endpoints: &Endpoints,
) -> Result<ServerStats, NetError> {
    let response = client
        .get(format!("{}/stats", endpoints.http))
        .send()
        .await?;
    let not_pollpush = || NetError::NotPollpush(endpoints.http.clone());
    // Something answers, but not as a pollpush server would.
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Err(not_pollpush());
    }
    let response = response.error_for_status()?;
    let body = response.bytes().await?;
    serde_json::from_slice(&body).map_err(|_| not_pollpush())
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
