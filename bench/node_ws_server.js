// The baseline bench/push.sh measures pollpush against from Node.js: a push server written
// the usual way with the `ws` package (serialize each change once, `send()` it to every
// subscriber), speaking the subset of pollpush's /ws protocol push_bench uses: `hello`,
// `subscribe` -> `subscribed` + `snapshot`, `change`; `POST /change` makes a change.
//   node bench/node_ws_server.js [HOST:PORT]     # prints "listening on http://HOST:PORT"
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const [host, port] = (process.argv[2] || '127.0.0.1:0').split(':');
let revision = 0;
let observations = 0;
const subscribers = new Set();
const now = () => new Date().toISOString();
const species = () => ({ id: 1, name: 'AThaliana', observations, updated_at: now() });

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/change') {
    revision += 1;
    observations += 1;
    const text = JSON.stringify({ type: 'change', room: 'species', revision, op: 'updated', species: species(), at: now() });
    for (const ws of subscribers) ws.send(text);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ revision }));
  } else {
    res.writeHead(404);
    res.end();
  }
});
const wss = new WebSocketServer({ server, path: '/ws' });
wss.on('connection', (ws) => {
  ws.send(JSON.stringify({ type: 'hello', protocol: 1, server: 'node-ws', revision, server_time: now() }));
  ws.on('message', (data) => {
    if (String(data).includes('"subscribe"')) {
      ws.send(JSON.stringify({ type: 'subscribed', room: 'species', revision }));
      ws.send(JSON.stringify({ type: 'snapshot', room: 'species', revision, species: [species()] }));
      subscribers.add(ws);
    }
  });
  ws.on('close', () => subscribers.delete(ws));
  ws.on('error', () => subscribers.delete(ws));
});
server.listen(Number(port), host, () => {
  console.log(`listening on http://${host}:${server.address().port}`);
});
