# The baseline for bench/socketio_fanout.sh: the talk's Flask-SocketIO server
# (same construction, same `socketio.run`, so the same `threading` async mode with
# werkzeug and simple-websocket), plus what the talk's seed lacks and the benchmark
# needs: a `species` room joined with `subscribe`, and an HTTP `POST /species` that
# appends a species and broadcasts it to the room as a `change` event shaped like
# pollpush's ({room, revision, op, species, at}).
#
#   PORT=5001 /tmp/peers-venv/bin/python bench/flask_socketio_fanout.py
#
# With MESSAGE_QUEUE=redis://127.0.0.1:6379 several such processes share one Redis
# message queue, the talk's way to scale out: an emit in one process reaches the
# clients of every process (bench/cluster.sh writes on one, subscribes on another).
import datetime
import logging
import os
import threading

from flask import Flask, jsonify, request
from flask_socketio import SocketIO, emit, join_room

app = Flask(__name__)
socketio = SocketIO(app, cors_allowed_origins="*",
                    message_queue=os.environ.get("MESSAGE_QUEUE") or None)

species = [{'id': 1, 'name': 'ATHALINA'}, {'id': 2, 'name': 'Tomate'}]
revision = 0
lock = threading.Lock()  # werkzeug serves each request on its own thread


@socketio.on('subscribe')
def subscribe(room):
    join_room(room)
    with lock:
        rev, snapshot = revision, list(species)
    emit('snapshot', {'room': room, 'revision': rev, 'species': snapshot})
    return {'room': room, 'revision': rev}


@app.post('/species')
def create_species():
    global revision
    name = request.get_json()['name']
    # One lock around the append and the emit keeps revisions in order on the wire.
    with lock:
        revision += 1
        item = {'id': len(species) + 1, 'name': name}
        species.append(item)
        change = {'room': 'species', 'revision': revision, 'op': 'created', 'species': item,
                  'at': datetime.datetime.now(datetime.timezone.utc).isoformat()}
        socketio.emit('change', change, to='species')
    return jsonify(item), 201


if __name__ == '__main__':
    # Request lines for 1,000 upgrades would only slow the server down and fill the log.
    logging.getLogger('werkzeug').setLevel(logging.WARNING)
    port = int(os.environ.get("PORT", "5001"))
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    socketio.run(app, host="127.0.0.1", port=port, allow_unsafe_werkzeug=True)
