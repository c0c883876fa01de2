//! Rooms other than `species`: named groups of sessions that broadcast to each other.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Identifies one session in the registry.
pub type SessionId = u64;

/// The sender of a broadcast that came from another node: no member here.
pub const NOBODY: SessionId = SessionId::MAX;

/// Who is in which room, and how to reach them.
#[derive(Debug, Default)]
pub struct Rooms {
    rooms: Mutex<HashMap<String, HashMap<SessionId, mpsc::Sender<Utf8Bytes>>>>,
}

/// Whether a room name is acceptable: 1–64 of `[A-Za-z0-9_.-]`.
pub fn valid_room_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl Rooms {
    pub fn join(&self, room: &str, id: SessionId, outbox: mpsc::Sender<Utf8Bytes>) {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms.entry(room.to_owned()).or_default().insert(id, outbox);
    }

    pub fn leave(&self, room: &str, id: SessionId) {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(members) = rooms.get_mut(room) {
            members.remove(&id);
            if members.is_empty() {
                rooms.remove(room);
            }
        }
    }

    /// Sends the already-serialized `frame` to every member but `from`.
    /// Returns how many members it reached and how many had a full queue.
    pub fn broadcast(&self, room: &str, from: SessionId, frame: &Utf8Bytes) -> (usize, usize) {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(members) = rooms.get(room) else {
            return (0, 0);
        };
        let (mut sent, mut full) = (0, 0);
        for (id, outbox) in members {
            if *id == from {
                continue;
            }
            match outbox.try_send(frame.clone()) {
                Ok(()) => sent += 1,
                Err(mpsc::error::TrySendError::Full(_)) => full += 1,
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        (sent, full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_follow_the_documented_rule() {
        assert!(valid_room_name("lab"));
        assert!(valid_room_name("a.b-c_D9"));
        assert!(valid_room_name(&"x".repeat(64)));
        assert!(!valid_room_name(""));
        assert!(!valid_room_name(&"x".repeat(65)));
        assert!(!valid_room_name("with space"));
        assert!(!valid_room_name("é"));
    }

    #[tokio::test]
    async fn broadcast_skips_the_sender_and_counts_full_queues() {
        let rooms = Rooms::default();
        let (a, _ra) = mpsc::channel(1);
        let (b, mut rb) = mpsc::channel(1);
        rooms.join("lab", 1, a);
        rooms.join("lab", 2, b);
        let frame = Utf8Bytes::from("x");
        assert_eq!(rooms.broadcast("lab", 1, &frame), (1, 0));
        assert_eq!(rooms.broadcast("lab", 1, &frame), (0, 1));
        assert_eq!(rb.recv().await.as_deref(), Some("x"));
        rooms.leave("lab", 2);
        assert_eq!(rooms.broadcast("lab", 1, &frame), (0, 0));
    }
}
