// Drives a real socket.io client against pollpush: node clients.js <module> <base-url>
// <module> is a socket.io-client package (2.2.0 or 4.x). Prints "ok" and exits 0 when
// every step passed; prints the failing step and exits 1 otherwise. Bounded by a 30 s
// deadline, which names the step it stopped at.
'use strict';
const io = require(process.argv[2]);
const base = process.argv[3];
const http = require('http');

let step = 'connect';
const deadline = setTimeout(() => fail('deadline: no answer within 30 s, at step: ' + step), 30000);
function fail(why) { console.error('FAIL ' + why); process.exit(1); }
function check(cond, why) { if (!cond) fail(why); }
function once(socket, event) { return new Promise((resolve) => socket.once(event, (...args) => resolve(args))); }
function emitAck(socket, event, data) { return new Promise((resolve) => socket.emit(event, data, (...args) => resolve(args))); }
async function until(cond, what) {
  step = what;
  while (!cond()) await new Promise((r) => setTimeout(r, 10)); // bounded by the deadline above
}
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
  step = 'connect();';
  const a = await connect();
  const species = once(a, 'species');
  a.emit('hi!', { data: 'hello' });
  step = 'species;';
  const [list] = await species;
  check(Array.isArray(list) && list[1].name === 'Tomate', 'species list: ' + JSON.stringify(list));
  step = "emitAck(a, 'info', { data: 'give me more' });";
  const [info] = await emitAck(a, 'info', { data: 'give me more' });
  check(info && typeof info.revision === 'number' && info.species >= 2, 'info ack: ' + JSON.stringify(info));

  // A REST write arrives as a change event with the /ws payload.
  const snapshot = once(a, 'snapshot');
  step = "emitAck(a, 'subscribe', 'species');";
  const [sub] = await emitAck(a, 'subscribe', 'species');
  check(sub && sub.room === 'species' && typeof sub.revision === 'number', 'subscribe ack: ' + JSON.stringify(sub));
  step = 'snapshot;';
  const [snap] = await snapshot;
  check(snap.revision === sub.revision && snap.species.length >= 2, 'snapshot: ' + JSON.stringify(snap));
  const change = once(a, 'change');
  check((await post('/species', { name: 'Vigne' })) === 201, 'REST create');
  step = 'change;';
  const [c] = await change;
  check(c.op === 'created' && c.species.name === 'Vigne' && c.revision === sub.revision + 1 && c.room === 'species',
    'change: ' + JSON.stringify(c));

  // Rooms and broadcast: b joins lab, a broadcasts, b receives; a does not.
  step = 'connect();';
  const b = await connect();
  step = "emitAck(b, 'subscribe', 'lab');";
  const [joined] = await emitAck(b, 'subscribe', 'lab');
  check(joined.room === 'lab', 'join lab');
  const note = once(b, 'note');
  let selfGot = false;
  a.on('note', () => { selfGot = true; });
  step = "emitAck(a, 'broadcast', { room: 'lab', event: 'note', data: ";
  await emitAck(a, 'broadcast', { room: 'lab', event: 'note', data: { text: 'bonjour' } });
  step = 'note;';
  const [n] = await note;
  check(n.text === 'bonjour', 'broadcast data: ' + JSON.stringify(n));
  step = "emitAck(a, 'dance', {});";
  const [unknown] = await emitAck(a, 'dance', {});
  check(unknown && unknown.error, 'unknown event acked with an error');
  // A since no store can hold (past 2^63 - 1) is refused, not taken for "no since".
  step = "emitAck(a, 'subscribe', { room: 'species', since: 2 ** 63 });";
  const [tooLarge] = await emitAck(a, 'subscribe', { room: 'species', since: 2 ** 63 });
  check(tooLarge && /largest revision/.test(tooLarge.error), 'since past 2^63 - 1: ' + JSON.stringify(tooLarge));
  check(!selfGot, 'the sender must not receive its own broadcast');

  // A long-polling-only client.
  step = "connect({ transports: ['polling'] });";
  const p = await connect({ transports: ['polling'] });
  const pspecies = once(p, 'species');
  p.emit('hi!', {});
  step = 'pspecies;';
  const [plist] = await pspecies;
  check(plist.length >= 3, 'polling species');

  // WebSocket from the handshake on: the server writes changes straight to the socket.
  step = "connect({ transports: ['websocket'] });";
  const w = await connect({ transports: ['websocket'] });
  const wsnap = once(w, 'snapshot');
  step = "emitAck(w, 'subscribe', 'species');";
  const [wsub] = await emitAck(w, 'subscribe', 'species');
  check(wsub && wsub.room === 'species' && typeof wsub.revision === 'number', 'ws subscribe ack: ' + JSON.stringify(wsub));
  step = 'wsnap;';
  const [ws0] = await wsnap;
  check(ws0.revision === wsub.revision && ws0.species.some((x) => x.name === 'Vigne'), 'ws snapshot: ' + JSON.stringify(ws0));
  const got = [];
  w.on('change', (c) => got.push(c));
  for (const name of ['Orge', 'Seigle', 'Avoine']) check((await post('/species', { name })) === 201, 'REST create ' + name);
  await until(() => got.length >= 3, 'ws changes');
  const revs = (list) => list.map((c) => c.revision).join();
  check(got.length === 3 && revs(got) === [1, 2, 3].map((i) => wsub.revision + i).join(),
    'ws changes once each, in order: ' + revs(got));
  check(got[2].op === 'created' && got[2].species.name === 'Avoine' && got[2].room === 'species', 'ws change: ' + JSON.stringify(got[2]));

  // Resuming from a revision replays what followed it, as change events.
  step = "connect({ transports: ['websocket'] });";
  const w2 = await connect({ transports: ['websocket'] });
  const replayed = [];
  w2.on('change', (c) => replayed.push(c));
  w2.on('snapshot', () => fail('a resume with a known revision must not get a snapshot'));
  step = "emitAck(w2, 'subscribe', { room: 'species', since: wsub.revi";
  const [r] = await emitAck(w2, 'subscribe', { room: 'species', since: wsub.revision + 1 });
  check(r && r.revision === wsub.revision + 3, 'resume ack: ' + JSON.stringify(r));
  await until(() => replayed.length >= 2, 'replay');
  check(revs(replayed) === [2, 3].map((i) => wsub.revision + i).join(), 'replay: ' + revs(replayed));

  // Subscribing again on the same socket starts over from its `since` and stays live.
  const again = [];
  w.on('change', (c) => again.push(c.revision));
  step = "emitAck(w, 'subscribe', { room: 'species', since: wsub.revis";
  const [re] = await emitAck(w, 'subscribe', { room: 'species', since: wsub.revision + 2 });
  check(re && re.revision === wsub.revision + 3, 'resubscribe ack: ' + JSON.stringify(re));
  check((await post('/species', { name: 'Sarrasin' })) === 201, 'REST create Sarrasin');
  await until(() => again.includes(wsub.revision + 4), 'a change after subscribing again');
  check(again.join() === [3, 4].map((i) => wsub.revision + i).join(), 'resubscribed: ' + again.join());
  got.length = 0; // the listeners above saw these too; the next step counts afresh

  // Unsubscribed: the other socket sees the next write, this one does not.
  // w2 was still subscribed for Sarrasin: wait for it there too, so nothing is in flight.
  await until(() => replayed.some((c) => c.revision === wsub.revision + 4), 'Sarrasin on the second socket');
  step = "emitAck(w2, 'unsubscribe', 'species');";
  await emitAck(w2, 'unsubscribe', 'species');
  check((await post('/species', { name: 'Millet' })) === 201, 'REST create Millet');
  await until(() => got.some((c) => c.revision === wsub.revision + 5), 'change after unsubscribe');
  check(!replayed.some((c) => c.revision > wsub.revision + 4), 'an unsubscribed socket got a change: ' + revs(replayed));

  for (const s of [a, b, p, w, w2]) s.close();
  clearTimeout(deadline);
  console.log('ok');
  process.exit(0);
}
main().catch((e) => fail(e && e.stack || String(e)));
