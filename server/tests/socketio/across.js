// socket.io across two nodes of a cluster: node across.js <module> <base-A> <base-B>
// A write on node A reaches a `species` subscriber of node B; a broadcast to a room from
// node B reaches the room's member on node A and is not echoed to its sender.
// Prints "ok" and exits 0, or the failing step and exits 1. Bounded by a deadline.
'use strict';
const io = require(process.argv[2]);
const [baseA, baseB] = [process.argv[3], process.argv[4]];
const http = require('http');

setTimeout(() => fail('deadline: no answer within 15 s'), 15000);
function fail(why) { console.error('FAIL ' + why); process.exit(1); }
function check(cond, why) { if (!cond) fail(why); }
function once(socket, event) { return new Promise((resolve) => socket.once(event, (...args) => resolve(args))); }
function emitAck(socket, event, data) { return new Promise((resolve) => socket.emit(event, data, (...args) => resolve(args))); }
function connect(base) {
  const s = io(base, { forceNew: true, reconnection: false, transports: ['websocket'] });
  return new Promise((resolve) => s.on('connect', () => resolve(s)));
}
function post(base, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(base + '/species', { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume(); res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject); req.end(data);
  });
}

async function main() {
  const a = await connect(baseA);
  const b = await connect(baseB);
  const [sub] = await emitAck(b, 'subscribe', 'species');
  check(sub && sub.room === 'species', 'subscribe ack on B: ' + JSON.stringify(sub));
  const change = once(b, 'change');
  check((await post(baseA, { name: 'Across' })) === 201, 'REST create on A');
  const [c] = await change;
  check(c.species.name === 'Across' && c.revision === sub.revision + 1, 'change on B: ' + JSON.stringify(c));

  await emitAck(a, 'subscribe', 'lab');
  await emitAck(b, 'subscribe', 'lab');
  const heardByB = [];
  b.on('note', (data) => heardByB.push(data));
  const onA = once(a, 'note');
  const [ack] = await emitAck(b, 'broadcast', { room: 'lab', event: 'note', data: { from: 'b' } });
  check(ack && ack.room === 'lab', 'broadcast ack: ' + JSON.stringify(ack));
  const [got] = await onA;
  check(got && got.from === 'b', 'note on A: ' + JSON.stringify(got));
  // A answers; when B hears it, B must not have heard its own note first.
  const back = once(b, 'note');
  await emitAck(a, 'broadcast', { room: 'lab', event: 'note', data: { from: 'a' } });
  await back;
  check(heardByB.length === 1 && heardByB[0].from === 'a', 'B heard: ' + JSON.stringify(heardByB));
  console.log('ok');
  process.exit(0);
}
main().catch((e) => fail(e.stack || String(e)));
