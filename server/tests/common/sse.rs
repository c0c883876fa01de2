//! An SSE stream read event by event, for the tests of `/species/events`
//! and `/feeds/NAME/events`.

use pollpush_server::Server;

use super::{DEADLINE, http, url};

/// An SSE stream being read event by event.
pub struct Events {
    response: reqwest::Response,
    buffer: String,
}

/// One event: its `id`, `event` and `data` fields.
#[derive(Debug, PartialEq)]
pub struct Event {
    pub id: Option<String>,
    pub kind: String,
    pub data: String,
}

impl Events {
    pub async fn open(server: &Server, path: &str, last_event_id: Option<u64>) -> Self {
        let mut request = http().get(url(server, path));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self::from_response(response)
    }

    /// A stream already opened.
    pub fn from_response(response: reqwest::Response) -> Self {
        Self {
            response,
            buffer: String::new(),
        }
    }

    pub async fn next(&mut self) -> Event {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = Event {
                    id: None,
                    kind: "message".into(),
                    data: String::new(),
                };
                for line in block.lines() {
                    match line.split_once(": ") {
                        Some(("id", v)) => event.id = Some(v.to_owned()),
                        Some(("event", v)) => v.clone_into(&mut event.kind),
                        Some(("data", v)) => event.data.push_str(v),
                        _ => {}
                    }
                }
                return event;
            }
            let chunk = tokio::time::timeout(DEADLINE, self.response.chunk())
                .await
                .expect("an event before the deadline")
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}
