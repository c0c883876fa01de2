// Push fan-out to many subscribers, measured at the last one:
//   node socketio_fanout.js --proto socketio|ws --url http://127.0.0.1:PORT --pid SERVER_PID
//        [--clients 1000] [--writes 30] [--interval-ms 200] [--workers 2] [--label NAME]
//        [--write-url http://127.0.0.1:OTHER]   (writes on another node of a cluster)
// Connects --clients subscribers (socket.io-client 4.x over the WebSocket transport, or
// `ws` on /ws), split over --workers child processes so the clients' own parsing does not
// queue behind one event loop. Then issues --writes REST writes, one every --interval-ms,
// never two in flight (the next waits for the previous to reach everyone, up to 10 s), and
// for each write takes the time from sending the POST to its arrival at the LAST subscriber.
// Arrival times come from process.hrtime (CLOCK_MONOTONIC, one clock for all processes).
// Prints one JSON line of results. Every wait has a deadline.
'use strict';
const { fork } = require('child_process');
const fs = require('fs');
const http = require('http');

const WARMUP = 3;
const now = () => Number(process.hrtime.bigint() / 1000n); // µs, monotonic, system-wide

function args() {
  // --transports polling,websocket: socket.io's default (long-polling, then the upgrade).
  const a = { clients: 1000, writes: 30, 'interval-ms': 200, workers: 2, batch: 50, label: '', transports: 'websocket' };
  for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  for (const k of ['clients', 'writes', 'interval-ms', 'workers', 'batch', 'pid']) if (a[k] !== undefined) a[k] = Number(a[k]);
  return a;
}

// ---------- worker: holds a share of the subscribers ----------
function worker(opt) {
  const subs = []; // {lastRev, received, gaps}
  const pending = new Map(); // name -> {count, times: []}
  let disconnects = 0;
  const send = (m) => process.send(m);

  function onChange(sub, c) {
    const t = now();
    if (!sub.live) return; // a late connect whose batch already failed: not one of ours
    if (c.revision !== sub.lastRev + 1) sub.gaps++;
    if (c.revision > sub.lastRev) sub.lastRev = c.revision;
    sub.received++;
    const name = c.species && c.species.name;
    let p = pending.get(name);
    if (!p) { p = { times: [] }; pending.set(name, p); }
    p.times.push(t);
    if (p.times.length === subs.length) { send({ type: 'arrived', name, times: p.times }); pending.delete(name); }
  }

  function connectSocketIo(sub) {
    const io = require('socket.io-client');
    return new Promise((resolve, reject) => {
      const s = io(opt.url, { forceNew: true, reconnection: false, transports: opt.transports.split(','), timeout: 60000 });
      sub.close = () => s.close();
      s.on('connect_error', (e) => reject(new Error('connect_error: ' + e.message)));
      s.on('disconnect', (why) => { if (!sub.closing) disconnects++; });
      s.on('change', (c) => onChange(sub, c));
      let acked = false, snap = false;
      s.on('snapshot', (b) => { sub.lastRev = Math.max(sub.lastRev, b.revision); snap = true; if (acked) resolve(); });
      s.on('connect', () => s.emit('subscribe', 'species', (ack) => {
        if (!ack || ack.error) return reject(new Error('subscribe ack ' + JSON.stringify(ack)));
        sub.lastRev = Math.max(sub.lastRev, ack.revision); acked = true; if (snap) resolve();
      }));
    });
  }

  function connectWs(sub) {
    const WebSocket = require('ws');
    return new Promise((resolve, reject) => {
      const w = new WebSocket(opt.url.replace(/^http/, 'ws') + '/ws');
      sub.close = () => w.close(1000);
      w.on('error', (e) => reject(e));
      w.on('close', () => { if (!sub.closing) disconnects++; });
      w.on('open', () => w.send(JSON.stringify({ type: 'subscribe', room: 'species' })));
      w.on('message', (data) => {
        const m = JSON.parse(data);
        if (m.type === 'change') onChange(sub, m);
        else if (m.type === 'snapshot') { sub.lastRev = Math.max(sub.lastRev, m.revision); resolve(); }
        else if (m.type === 'error' || m.type === 'resync') reject(new Error(JSON.stringify(m)));
      });
    });
  }

  // The socket.io protocol spoken by hand over `ws` (Engine.IO 4, WebSocket from the handshake):
  // the same packets as socket.io-client gets, without its per-message decoding, to tell the
  // server's cost from the client library's.
  function connectEngineIo(sub) {
    const WebSocket = require('ws');
    return new Promise((resolve, reject) => {
      const w = new WebSocket(opt.url.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket');
      sub.close = () => w.close(1000);
      w.on('error', (e) => reject(e));
      w.on('close', () => { if (!sub.closing) disconnects++; });
      let acked = false, snap = false;
      w.on('message', (data) => {
        const text = String(data);
        if (text === '2') return w.send('3'); // Engine.IO ping
        if (text.startsWith('0')) return w.send('40'); // open: join the default namespace
        if (text.startsWith('40')) return w.send('421["subscribe","species"]');
        if (text.startsWith('431')) {
          const [ack] = JSON.parse(text.slice(3));
          if (!ack || ack.error) return reject(new Error('subscribe ack ' + text));
          sub.lastRev = Math.max(sub.lastRev, ack.revision); acked = true; if (snap) resolve();
          return;
        }
        if (!text.startsWith('42')) return;
        const [event, body] = JSON.parse(text.slice(2));
        if (event === 'change') onChange(sub, body);
        else if (event === 'snapshot') { sub.lastRev = Math.max(sub.lastRev, body.revision); snap = true; if (acked) resolve(); }
      });
    });
  }

  process.on('message', async (m) => {
    if (m.type === 'connect') {
      const connect = { ws: connectWs, eio: connectEngineIo }[opt.proto] || connectSocketIo;
      for (let i = 0; i < m.count; i += opt.batch) {
        const batch = [], tried = [];
        for (let j = i; j < Math.min(m.count, i + opt.batch); j++) {
          const sub = { lastRev: -1, received: 0, gaps: 0 };
          tried.push(sub);
          batch.push(withDeadline(connect(sub), 30000, 'subscribe').then(() => sub));
        }
        const done = await Promise.allSettled(batch);
        const ok = done.filter((d) => d.status === 'fulfilled').map((d) => d.value);
        for (const sub of ok) sub.live = true;
        subs.push(...ok);
        if (ok.length < batch.length) {
          const why = done.find((d) => d.status === 'rejected').reason.message;
          for (const sub of tried) if (!sub.live) { sub.closing = true; if (sub.close) sub.close(); }
          return send({ type: 'connected', count: subs.length, failed: batch.length - ok.length, why });
        }
        send({ type: 'progress', count: subs.length });
      }
      send({ type: 'connected', count: subs.length, failed: 0 });
    } else if (m.type === 'finish') {
      const received = subs.reduce((n, s) => n + s.received, 0);
      const gaps = subs.reduce((n, s) => n + s.gaps, 0);
      for (const s of subs) { s.closing = true; s.close(); }
      send({ type: 'finished', received, gaps, disconnects, cpu: process.cpuUsage() });
      setTimeout(() => process.exit(0), 200);
    }
  });
}

function withDeadline(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(what + ' timed out after ' + ms + ' ms')), ms); })])
    .finally(() => clearTimeout(t));
}

// ---------- coordinator ----------
function cpuSeconds(pid) {
  // utime + stime, fields 14 and 15 of /proc/PID/stat (after the parenthesised name)
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // CLK_TCK is 100 on Linux
}
function machineBusySeconds() {
  // every core's busy time, from the first line of /proc/stat (all but idle and iowait)
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (f.reduce((a, b) => a + b, 0) - f[3] - f[4]) / 100;
}
function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : null;
}
function threads(pid) { return Number(/Threads:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]); }

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
function post(url, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) };
    // A server started with --write-token needs it on each write.
    if (process.env.POLLPUSH_TOKEN) headers.authorization = 'Bearer ' + process.env.POLLPUSH_TOKEN;
    const req = http.request(url + '/species', { method: 'POST', agent: keepAlive, headers }, (res) => {
      res.resume(); res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('POST timed out')));
    req.end(data);
  });
}

function pct(sorted, p) { return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : null; }
const ms = (us) => (us === null ? null : Math.round(us / 10) / 100);
const sleep = (t) => new Promise((r) => setTimeout(r, t));

async function coordinate(opt) {
  const kids = [];
  for (let i = 0; i < opt.workers; i++) kids.push(fork(__filename, process.argv.slice(2), { env: { ...process.env, FANOUT_WORKER: '1' } }));
  const inbox = []; let wake = null;
  for (const k of kids) k.on('message', (m) => { inbox.push(m); if (wake) wake(); });
  const next = async (type, ms) => {
    const end = Date.now() + ms;
    for (;;) {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return inbox.splice(i, 1)[0];
      const left = end - Date.now();
      if (left <= 0) return null;
      await new Promise((r) => { wake = r; setTimeout(r, Math.min(left, 1000)); });
    }
  };
  const result = { label: opt.label || opt.proto, proto: opt.proto, target: opt.clients };
  const busy0 = machineBusySeconds(), wall0 = Date.now();

  // Connect: each worker its share, in batches; a failed batch stops that worker.
  const t0 = Date.now(), cpu0 = cpuSeconds(opt.pid);
  kids.forEach((k, i) => k.send({ type: 'connect', count: Math.floor(opt.clients / opt.workers) + (i < opt.clients % opt.workers ? 1 : 0) }));
  let connected = 0, holding = 0; const failures = [];
  for (const _ of kids) {
    const m = await next('connected', 600000);
    if (!m) { failures.push('connect phase over 600 s'); break; }
    connected += m.count;
    if (m.count > 0) holding++;
    if (m.failed) failures.push(`${m.failed} failed: ${m.why}`);
  }
  result.subscribed = connected;
  result.connect_s = Math.round((Date.now() - t0) / 100) / 10;
  result.connect_cpu_s = Math.round((cpuSeconds(opt.pid) - cpu0) * 100) / 100;
  if (failures.length) result.connect_failures = failures;
  result.server_threads = threads(opt.pid);
  result.server_rss_mib = rssMiB(opt.pid);
  process.stderr.write(`  ${result.label}: ${connected}/${opt.clients} subscribed in ${result.connect_s} s\n`);

  // Writes: paced, one in flight; last-subscriber latency per write.
  const lastLat = [], allLat = [], postLat = []; let lost = 0;
  const cpu1 = cpuSeconds(opt.pid);
  if (connected > 0) {
    await sleep(500); // let the connect burst's stragglers (pings, acks) settle
    const run = `${opt.label || opt.proto}-${process.pid}`;
    // The first WARMUP writes warm both sides' code paths; they are checked, not timed.
    for (let i = -WARMUP; i < opt.writes; i++) {
      const name = `${run}-${i}`;
      const issued = now();
      const status = await post(opt['write-url'] || opt.url, { name });
      if (i >= 0) postLat.push(now() - issued);
      if (status !== 201) throw new Error(`POST /species answered ${status}`);
      let last = null;
      for (let k = 0; k < holding; k++) {
        const m = await (async () => {
          const end = Date.now() + 10000;
          for (;;) {
            const j = inbox.findIndex((x) => x.type === 'arrived' && x.name === name);
            if (j >= 0) return inbox.splice(j, 1)[0];
            if (Date.now() > end) return null;
            await new Promise((r) => { wake = r; setTimeout(r, 50); });
          }
        })();
        if (!m) { lost++; continue; }
        if (i < 0) continue;
        for (const t of m.times) { allLat.push(t - issued); last = Math.max(last ?? 0, t - issued); }
      }
      if (last !== null && i >= 0) lastLat.push(last);
      const wait = opt['interval-ms'] * 1000 - (now() - issued);
      if (wait > 0) await sleep(wait / 1000);
    }
  }
  result.write_cpu_s = Math.round((cpuSeconds(opt.pid) - cpu1) * 100) / 100;
  lastLat.sort((a, b) => a - b); allLat.sort((a, b) => a - b);
  result.writes = opt.writes;
  result.last_ms = { p50: ms(pct(lastLat, 50)), p99: ms(pct(lastLat, 99)), max: ms(lastLat[lastLat.length - 1] ?? null) };
  result.each_ms = { p50: ms(pct(allLat, 50)), p99: ms(pct(allLat, 99)) };
  result.incomplete_writes = lost;
  postLat.sort((a, b) => a - b);
  result.post_ms = { p50: ms(pct(postLat, 50)), max: ms(postLat[postLat.length - 1] ?? null) };

  kids.forEach((k) => k.send({ type: 'finish' }));
  let received = 0, gaps = 0, disconnects = 0, clientCpu = 0;
  for (const _ of kids) {
    const m = await next('finished', 10000);
    if (!m) continue;
    received += m.received; gaps += m.gaps; disconnects += m.disconnects; clientCpu += (m.cpu.user + m.cpu.system) / 1e6;
  }
  result.deliveries = received;
  result.lost = connected * (opt.writes + WARMUP) - received;
  result.out_of_order = gaps;
  result.disconnects = disconnects;
  result.client_cpu_s = Math.round(clientCpu * 100) / 100;
  // Everything else the machine did meanwhile (other users, the kernel's loopback work):
  // this box is shared, so a busy neighbour shows here.
  const cu = process.cpuUsage();
  result.phase_s = Math.round((Date.now() - wall0) / 100) / 10;
  result.machine_busy_s = Math.round((machineBusySeconds() - busy0) * 10) / 10;
  result.rest_of_machine_cpu_s = Math.round((result.machine_busy_s - (cpuSeconds(opt.pid) - cpu0) - clientCpu - (cu.user + cu.system) / 1e6) * 10) / 10;
  console.log(JSON.stringify(result));
  await sleep(300);
  for (const k of kids) k.kill();
  keepAlive.destroy();
  process.exit(0);
}

const opt = args();
if (process.env.FANOUT_WORKER) worker(opt);
else {
  setTimeout(() => { console.error('fan-out run over 20 min: giving up'); process.exit(2); }, 1200000).unref();
  coordinate(opt).catch((e) => { console.error('FAIL ' + e.message); process.exit(1); });
}
