//! A small client of the Chrome DevTools protocol (JSON over the browser's
//! WebSocket endpoint), enough to open a page, evaluate JavaScript in it and
//! keep the `Network` events that say which HTTP version each request used.
//! One session on one page target, "flattened" onto the browser's socket.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::{DEADLINE, Ws};

/// A DevTools connection attached to one page.
pub struct DevTools {
    ws: Ws,
    next_id: u64,
    session: String,
    /// Every event received so far (`method` and `params`), in order.
    events: Vec<Value>,
}

impl DevTools {
    /// Connects to the browser endpoint and attaches to a new blank page.
    pub async fn open_page(browser_url: &str) -> DevTools {
        let (ws, _) = tokio_tungstenite::connect_async(browser_url).await.unwrap();
        let mut devtools = DevTools {
            ws,
            next_id: 0,
            session: String::new(),
            events: Vec::new(),
        };
        let target = devtools
            .browser_call("Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let attached = devtools
            .browser_call(
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        attached["sessionId"]
            .as_str()
            .unwrap()
            .clone_into(&mut devtools.session);
        devtools
    }

    /// A command to the page; its `result`. Fails the test on a protocol error.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(&session)).await
    }

    /// A command to the browser itself (no page session).
    pub async fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None).await
    }

    async fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        self.ws
            .send(Message::text(command.to_string()))
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let message = self.next_message(deadline, method).await;
            if message["id"] == id {
                assert!(
                    message.get("error").is_none(),
                    "{method} failed: {}",
                    message["error"]
                );
                return message["result"].clone();
            }
        }
    }

    /// Waits for the event `method` (or finds it among those already
    /// received); its `params`.
    pub async fn event(&mut self, method: &str) -> Value {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let mut looked = 0;
        loop {
            if let Some(found) = self.events[looked..].iter().find(|e| e["method"] == method) {
                return found["params"].clone();
            }
            looked = self.events.len();
            self.next_message(deadline, method).await;
        }
    }

    /// The next message; events are also kept in `events`.
    async fn next_message(&mut self, deadline: tokio::time::Instant, awaited: &str) -> Value {
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no {awaited} before the deadline"))
                .expect("the DevTools connection ended")
                .expect("DevTools websocket error");
            let Message::Text(text) = frame else { continue };
            let message: Value = serde_json::from_str(&text).unwrap();
            if message.get("method").is_some() {
                self.events.push(message.clone());
            }
            return message;
        }
    }

    /// Evaluates `expression` in the page, waiting for it if it is a promise;
    /// its value. Fails the test if it throws or rejects.
    pub async fn evaluate(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            )
            .await;
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression} threw: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// The `params` of every event named `method` received so far.
    pub fn events(&self, method: &str) -> impl Iterator<Item = &Value> {
        self.events
            .iter()
            .filter(move |e| e["method"] == method)
            .map(|e| &e["params"])
    }
}
