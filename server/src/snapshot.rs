//! The list of species at one revision, as every read and every new
//! subscriber sees it; its JSON body, ETag and `/ws` message are made once.
//!
//! Every node of a cluster builds the same snapshot for the same revision
//! (same map, same bytes, same ETag), whether it committed the change itself
//! or learned it from the broker or the history.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use crate::frames::Chunked;
use bytes::Bytes;
use pollpush_shared::message::SPECIES_ROOM;
use pollpush_shared::{Change, ChangeOp, Revision, Species, SpeciesId};
use tokio_tungstenite::tungstenite::Utf8Bytes;

mod list_headers;
pub use list_headers::{ListHeaders, X_REVISION};

/// The list of species at one revision; cheap to clone, lazily serialized.
#[derive(Debug)]
pub struct Snapshot {
    pub revision: Revision,
    pub species: Arc<BTreeMap<SpeciesId, Species>>,
    encoded: OnceLock<(Bytes, String)>,
    message: OnceLock<Utf8Bytes>,
    /// The list as the SSE `snapshot` event in an HTTP/1.1 chunk, made on first use (see `sse.rs`).
    pub(crate) sse: OnceLock<crate::frames::Chunked>,
    /// The headers of `GET /species/` answers, made on first use.
    list_headers: OnceLock<ListHeaders>,
    /// The list as a socket.io `snapshot` event frame, made on first use.
    socketio: OnceLock<Bytes>,
    /// [`Snapshot::message`] as one WebSocket frame, made on first use.
    frame: OnceLock<Bytes>,
}

impl Snapshot {
    /// `id: R`, `event: snapshot` and the `/ws` snapshot message as an SSE
    /// event inside its HTTP/1.1 chunk, made once per revision: a reconnect
    /// storm of streams copies the list once.
    pub fn sse_chunked(&self) -> Chunked {
        self.sse
            .get_or_init(|| {
                let message = self.message();
                let mut event =
                    format!("id: {}\nevent: snapshot\ndata: ", self.revision).into_bytes();
                event.extend_from_slice(message.as_bytes());
                event.extend_from_slice(b"\n\n");
                Chunked::new(&event)
            })
            .clone()
    }

    pub fn new(revision: Revision, species: Arc<BTreeMap<SpeciesId, Species>>) -> Self {
        Self {
            revision,
            species,
            encoded: OnceLock::new(),
            message: OnceLock::new(),
            sse: OnceLock::new(),
            list_headers: OnceLock::new(),
            socketio: OnceLock::new(),
            frame: OnceLock::new(),
        }
    }

    /// The list one revision later, with `change` applied.
    pub fn apply(&self, change: &Change) -> Self {
        let mut map = (*self.species).clone();
        if change.op == ChangeOp::Deleted {
            map.remove(&change.species.id);
        } else {
            map.insert(change.species.id, change.species.clone());
        }
        Self::new(change.revision, Arc::new(map))
    }

    /// The species sorted by id.
    pub fn list(&self) -> Vec<Species> {
        self.species.values().cloned().collect()
    }

    /// The JSON array and its ETag (a hash of exactly those bytes), computed once.
    pub fn encoded(&self) -> (&Bytes, &str) {
        let (body, etag) = self.encoded.get_or_init(|| {
            let list: Vec<&Species> = self.species.values().collect();
            let body = serde_json::to_vec(&list).unwrap_or_else(|_| b"[]".to_vec());
            let etag = etag_of(&body);
            (Bytes::from(body), etag)
        });
        (body, etag)
    }

    /// The headers of this list's `200` and `304`, built once.
    pub fn list_headers(&self) -> &ListHeaders {
        self.list_headers.get_or_init(|| {
            let (_, etag) = self.encoded();
            ListHeaders::new(etag, self.revision)
        })
    }

    /// The socket.io `snapshot` event (`{room, revision, species}`) as one
    /// WebSocket frame, built once per revision like [`Snapshot::message`].
    pub fn socketio(&self) -> Bytes {
        self.socketio
            .get_or_init(|| {
                let (body, _) = self.encoded();
                let list = std::str::from_utf8(body).unwrap_or("[]");
                crate::frames::socketio_frame(&format!(
                    r#"42["snapshot",{{"room":"{SPECIES_ROOM}","revision":{},"species":{list}}}]"#,
                    self.revision
                ))
            })
            .clone()
    }

    /// [`Snapshot::message`] as a whole WebSocket text frame, built once per
    /// revision: every subscriber that starts from this snapshot gets these bytes.
    pub fn frame(&self) -> Bytes {
        self.frame
            .get_or_init(|| crate::frames::text_frame(self.message().as_bytes()).0)
            .clone()
    }

    /// The `/ws` `snapshot` message for this list, built once per revision from
    /// the cached JSON body: a reconnect storm of 10,000 subscribers serializes
    /// the list once, not 10,000 times.
    pub fn message(&self) -> Utf8Bytes {
        self.message
            .get_or_init(|| {
                let (body, _) = self.encoded();
                let head = format!(
                    r#"{{"type":"snapshot","room":"{SPECIES_ROOM}","revision":{},"species":"#,
                    self.revision
                );
                let mut text = String::with_capacity(head.len() + body.len() + 1);
                text.push_str(&head);
                text.push_str(std::str::from_utf8(body).unwrap_or("[]"));
                text.push('}');
                text.into()
            })
            .clone()
    }
}

/// The strong ETag of a JSON body: a hash of exactly those bytes. SipHash
/// with fixed keys, so the same bytes hash the same on every node.
pub fn etag_of(body: &[u8]) -> String {
    let mut hasher = std::hash::DefaultHasher::new();
    body.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn species(id: SpeciesId, name: &str) -> Species {
        Species {
            id,
            name: name.to_owned(),
            observations: 0,
            updated_at: pollpush_shared::time::now(),
        }
    }

    fn seeded() -> Snapshot {
        let map = [(1, species(1, "AThaliana")), (2, species(2, "Tomate"))];
        Snapshot::new(0, Arc::new(map.into_iter().collect()))
    }

    #[test]
    fn the_cached_snapshot_message_is_the_serialized_message() {
        let snapshot = seeded();
        let expected = pollpush_shared::ServerMessage::Snapshot {
            room: SPECIES_ROOM.to_owned(),
            revision: snapshot.revision,
            species: snapshot.list(),
        };
        let built: serde_json::Value = serde_json::from_str(&snapshot.message()).unwrap();
        assert_eq!(built, serde_json::to_value(&expected).unwrap());
    }

    #[test]
    fn applying_changes_gives_the_same_etag_as_the_same_list_built_directly() {
        let base = seeded();
        let created = species(3, "Vitis");
        let change = |revision, op, species| Change {
            room: SPECIES_ROOM.to_owned(),
            revision,
            op,
            species,
            at: pollpush_shared::time::now(),
        };
        let next = base
            .apply(&change(1, ChangeOp::Created, created.clone()))
            .apply(&change(2, ChangeOp::Deleted, species(1, "AThaliana")));
        let direct = Snapshot::new(
            2,
            Arc::new([(2, base.species[&2].clone()), (3, created)].into()),
        );
        assert_eq!(next.revision, 2);
        assert_eq!(next.encoded(), direct.encoded());
        assert_ne!(next.encoded().1, base.encoded().1);
    }
}
