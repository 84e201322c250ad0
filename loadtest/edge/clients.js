// Edge benchmark clients: opens N Socket.IO (Engine.IO 4) websockets to an edge, subscribes each
// to one of K accounts, answers heartbeats, and counts the events received. Speaks the wire
// protocol directly over `ws`, so that the client process stays light at 10k sockets.
// Reads commands on stdin: "count" prints {"received":n}; "quit" exits.
// argv: url sockets accounts token-prefix
'use strict';

const WebSocket = require(require.resolve('ws', { paths: [__dirname + '/../../tests/node'] }));
const readline = require('readline');

const [url, socketsArg, accountsArg, tokenPrefix] = process.argv.slice(2);
const sockets = Number(socketsArg);
const accounts = Number(accountsArg);
let subscribed = 0;
let received = 0;
let failed = 0;

function account(i) { return (0xacc00000 + i).toString(16).padStart(32, '0'); }

function open(i) {
  const ws = new WebSocket(url + '/socket.io/?EIO=4&transport=websocket', { perMessageDeflate: false });
  ws.on('message', (data) => {
    const text = data.toString();
    if (text === '2') { ws.send('3'); return; }
    if (text.startsWith('0{')) { ws.send('40'); return; }
    if (text.startsWith('40')) {
      const a = i % accounts;
      ws.send('420' + JSON.stringify(['subscribe', { account_id: account(a), auth_token: tokenPrefix + a, binding: 'call.*.*' }]));
      return;
    }
    if (text.startsWith('430')) {
      subscribed += 1;
      if (subscribed === sockets) process.stdout.write(JSON.stringify({ type: 'ready' }) + '\n');
      return;
    }
    if (text.startsWith('42')) received += 1;
  });
  ws.on('error', () => { failed += 1; });
}

// Open in batches so the accept queue is never flooded.
let next = 0;
const timer = setInterval(() => {
  for (let n = 0; n < 250 && next < sockets; n++) open(next++);
  if (next >= sockets) clearInterval(timer);
}, 20);

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'count') process.stdout.write(JSON.stringify({ type: 'count', received, subscribed, failed }) + '\n');
  if (line === 'quit') process.exit(0);
});
