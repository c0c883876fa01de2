//! What each socket.io event does: `hi!`, `info`, `subscribe`, `unsubscribe`
//! and `broadcast`, each counted as one message in.

use std::convert::Infallible;
use std::sync::atomic::Ordering::Relaxed;

use pollpush_shared::Revision;
use pollpush_shared::message::SPECIES_ROOM;
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef};

use super::fast::{self, AckId, FastSubscribers};
use super::feeds::FeedSockets;
use super::{BroadcastArg, SubscribeArg, ack_error, emit_counted, snapshot_body};
use crate::feed::{Start, StartWriter};
use crate::frames::ChangeFrame;
use crate::rooms::valid_room_name;
use crate::snapshot::Snapshot;
use crate::state::State;

/// The longest replay sent through socketioxide's per-socket queue (128
/// packets by default): a longer one gets a snapshot instead.
const QUEUED_REPLAY_MAX: u64 = 64;

/// `hi!`: the talk's greeting, answered with the list as a `species` event.
pub fn hi(state: &State, s: &SocketRef, ack: AckSender) {
    state.stats.socketio_messages_in.fetch_add(1, Relaxed);
    // A 1-tuple: socketioxide would spread a bare list into many arguments.
    let list = state.source.snapshot().list();
    emit_counted(state, s, "species", &(list,));
    let _ = ack.send(&Value::Null);
}

/// `info`: the server info, through the ack when the client asked for one.
pub fn info(state: &State, s: &SocketRef, ack: AckSender) {
    state.stats.socketio_messages_in.fetch_add(1, Relaxed);
    let info = state.server_info();
    if ack.send(&info).is_err() {
        emit_counted(state, s, "info", &info);
    }
}

/// `subscribe`: a room; `species` with its start (snapshot, or replay from
/// `since`), on the fast path when the socket has a wire of its own; a
/// feed's name, with the feed's start and changes.
pub async fn subscribe<E>(
    state: &State,
    (fast, feeds): (&FastSubscribers, &FeedSockets),
    s: SocketRef,
    arg: Result<SubscribeArg, E>,
    ack_id: AckId,
    ack: AckSender,
) {
    state.stats.socketio_messages_in.fetch_add(1, Relaxed);
    let (room, since) = match arg {
        Ok(SubscribeArg::Room(room)) => (room, None),
        Ok(SubscribeArg::Full { room, since }) => (room, since),
        Err(_) => return ack_error(ack, "subscribe takes a room name or {room, since}"),
    };
    let since = match since.map(crate::since::check).transpose() {
        Ok(since) => since,
        Err(e) => return ack_error(ack, &e.to_string()),
    };
    if !valid_room_name(&room) {
        return ack_error(ack, "room names are 1-64 of A-Z a-z 0-9 _ . -");
    }
    if let Some(feed) = state.feeds.get(&room) {
        return feeds.subscribe(state, s, feed.clone(), since, ack).await;
    }
    if room == SPECIES_ROOM
        && let Some(wire) = fast::wire_of(&s)
    {
        // Its acknowledgement goes out on the wire, in order with the start.
        fast.subscribe(state, &s, wire, since, ack_id).await;
        return;
    }
    s.join(room.clone());
    if room != SPECIES_ROOM {
        let revision = state.source.snapshot().revision;
        let _ = ack.send(&json!({ "room": room, "revision": revision }));
        return;
    }
    // Joined first, so no change can fall between the room and the start point;
    // a change may arrive twice, and clients drop what is not newer than they hold.
    let (start, _) = state.feed.subscribe_from(&state.source, since).await;
    let start = match start {
        // A longer replay would overflow socketioxide's queue (changes
        // dropped unseen): the snapshot is smaller and loses nothing.
        Start::Replay(replay)
            if replay.until().saturating_sub(since.unwrap_or(0)) > QUEUED_REPLAY_MAX =>
        {
            Start::Snapshot(state.source.snapshot())
        }
        start => start,
    };
    let _ = ack.send(&json!({ "room": room, "revision": start.last() }));
    let mut queued = Queued { state, socket: &s };
    let Ok(()) = start.write(&state.source, &mut queued).await;
}

/// `unsubscribe`: leaves a room (and the fast path, for `species`), or a feed.
pub fn unsubscribe<E>(
    state: &State,
    (fast, feeds): (&FastSubscribers, &FeedSockets),
    s: &SocketRef,
    room: Result<String, E>,
    ack: AckSender,
) {
    state.stats.socketio_messages_in.fetch_add(1, Relaxed);
    let Ok(room) = room else {
        return ack_error(ack, "unsubscribe takes a room name");
    };
    if room == SPECIES_ROOM
        && let Some(wire) = fast::wire_of(s)
    {
        fast.stop(s.id, &wire);
    }
    if !feeds.stop(s.id, &room) {
        s.leave(room.clone());
    }
    let _ = ack.send(&json!({ "room": room }));
}

/// `broadcast`: an event to the other members of a room, on every node, for
/// a socket that presented the write token (or none is needed).
pub async fn broadcast<E>(
    state: &State,
    s: &SocketRef,
    arg: Result<BroadcastArg, E>,
    may_write: bool,
    ack: AckSender,
) {
    state.stats.socketio_messages_in.fetch_add(1, Relaxed);
    let Ok(arg) = arg else {
        return ack_error(ack, "broadcast takes {room, event, data}");
    };
    if !valid_room_name(&arg.room)
        || arg.room == SPECIES_ROOM
        || state.feeds.get(&arg.room).is_some()
    {
        return ack_error(ack, "not a room clients may broadcast to");
    }
    if !may_write {
        return ack_error(
            ack,
            "unauthorized: broadcast needs the server's write token \
             (auth: {token}, or ?access_token=)",
        );
    }
    if let Some(broker) = &state.broker {
        broker.sender().publish_room(
            &arg.room,
            crate::broker::RoomPayload::SocketIo {
                event: arg.event.clone(),
                data: arg.data.clone(),
            },
        );
    }
    let members = s.to(arg.room.clone()).sockets().len() as u64;
    if s.to(arg.room.clone())
        .emit(&arg.event, &arg.data)
        .await
        .is_ok()
    {
        state
            .stats
            .socketio_messages_out
            .fetch_add(members, Relaxed);
    }
    let _ = ack.send(&json!({ "room": arg.room }));
}

/// A queued socket's side of its start ([`StartWriter`]): events through
/// socketioxide's queue, which never lags here; the live changes come
/// through the `species` room it joined.
struct Queued<'a> {
    state: &'a State,
    socket: &'a SocketRef,
}

impl StartWriter for Queued<'_> {
    type Error = Infallible;

    fn is_lagged(&self) -> bool {
        false
    }

    async fn snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Infallible> {
        emit_counted(
            self.state,
            self.socket,
            "snapshot",
            &snapshot_body(snapshot),
        );
        Ok(())
    }

    async fn change(&mut self, frame: &ChangeFrame) -> Result<(), Infallible> {
        emit_counted(self.state, self.socket, "change", &frame.change);
        Ok(())
    }

    async fn restart(&mut self) -> Result<(), Infallible> {
        self.state.stats.resyncs.fetch_add(1, Relaxed);
        let snapshot = self.state.source.snapshot();
        let notice = json!({ "revision": snapshot.revision });
        emit_counted(self.state, self.socket, "resync", &notice);
        self.snapshot(&snapshot).await
    }

    fn go_live(&mut self, _: Revision) {}
}
