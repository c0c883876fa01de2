// Drives a real socket.io client against pollpush: node clients.js <module> <base-url>
// <module> is a socket.io-client package (2.2.0 or 4.x). Prints "ok" and exits 0 when
// every step passed; prints the failing step and exits 1 otherwise. Bounded by a deadline.
'use strict';
const io = require(process.argv[2]);
const base = process.argv[3];
const http = require('http');

const deadline = setTimeout(() => fail('deadline: no answer within 15 s'), 15000);
function fail(why) { console.error('FAIL ' + why); process.exit(1); }
function check(cond, why) { if (!cond) fail(why); }
function once(socket, event) { return new Promise((resolve) => socket.once(event, (...args) => resolve(args))); }
function emitAck(socket, event, data) { return new Promise((resolve) => socket.emit(event, data, (...args) => resolve(args))); }
function connect(opts) {
  const s = io(base, Object.assign({ forceNew: true, reconnection: false }, opts || {}));
  return new Promise((resolve) => s.on('connect', () => resolve(s)));
}
function post(path, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(base + path, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume(); res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject); req.end(data);
  });
}

async function main() {
  // The talk's page: connect, hi! -> species, info with a callback.
  const a = await connect();
  const species = once(a, 'species');
  a.emit('hi!', { data: 'hello' });
  const [list] = await species;
  check(Array.isArray(list) && list[1].name === 'Tomate', 'species list: ' + JSON.stringify(list));
  const [info] = await emitAck(a, 'info', { data: 'give me more' });
  check(info && typeof info.revision === 'number' && info.species >= 2, 'info ack: ' + JSON.stringify(info));

  // A REST write arrives as a change event with the /ws payload.
  const snapshot = once(a, 'snapshot');
  const [sub] = await emitAck(a, 'subscribe', 'species');
  check(sub && sub.room === 'species' && typeof sub.revision === 'number', 'subscribe ack: ' + JSON.stringify(sub));
  const [snap] = await snapshot;
  check(snap.revision === sub.revision && snap.species.length >= 2, 'snapshot: ' + JSON.stringify(snap));
  const change = once(a, 'change');
  check((await post('/species', { name: 'Vigne' })) === 201, 'REST create');
  const [c] = await change;
  check(c.op === 'created' && c.species.name === 'Vigne' && c.revision === sub.revision + 1 && c.room === 'species',
    'change: ' + JSON.stringify(c));

  // Rooms and broadcast: b joins lab, a broadcasts, b receives; a does not.
  const b = await connect();
  const [joined] = await emitAck(b, 'subscribe', 'lab');
  check(joined.room === 'lab', 'join lab');
  const note = once(b, 'note');
  let selfGot = false;
  a.on('note', () => { selfGot = true; });
  await emitAck(a, 'broadcast', { room: 'lab', event: 'note', data: { text: 'bonjour' } });
  const [n] = await note;
  check(n.text === 'bonjour', 'broadcast data: ' + JSON.stringify(n));
  const [unknown] = await emitAck(a, 'dance', {});
  check(unknown && unknown.error, 'unknown event acked with an error');
  check(!selfGot, 'the sender must not receive its own broadcast');

  // A long-polling-only client.
  const p = await connect({ transports: ['polling'] });
  const pspecies = once(p, 'species');
  p.emit('hi!', {});
  const [plist] = await pspecies;
  check(plist.length >= 3, 'polling species');

  for (const s of [a, b, p]) s.close();
  clearTimeout(deadline);
  console.log('ok');
  process.exit(0);
}
main().catch((e) => fail(e && e.stack || String(e)));
