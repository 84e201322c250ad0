// Opens many socket.io-client 4.x websockets spread over several edges and accounts, subscribes
// each to its account, and reports what every socket received. Used to prove account isolation
// at scale. Input (argv[2]): JSON {"urls":[...], "sockets":[{"account":..,"token":..}], "binding":..}.
// Output: {"type":"ready"} once all are subscribed, then on stdin "report" a line
// {"type":"report","sockets":[{"account":..,"events":[call ids...]}]}.
'use strict';

const io = require('socket.io-client-4');
const readline = require('readline');

const spec = JSON.parse(process.argv[2]);
const results = spec.sockets.map((s) => ({ account: s.account, events: [], foreign: 0 }));
let subscribed = 0;

spec.sockets.forEach((s, i) => {
  const url = spec.urls[i % spec.urls.length];
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
  socket.on('connect', () => {
    socket.emit('subscribe', { account_id: s.account, auth_token: s.token, binding: spec.binding }, (reply) => {
      if (!reply || reply.status !== 'success') {
        process.stdout.write(JSON.stringify({ type: 'error', index: i, reply }) + '\n');
        return;
      }
      subscribed += 1;
      if (subscribed === spec.sockets.length) process.stdout.write(JSON.stringify({ type: 'ready' }) + '\n');
    });
  });
  socket.onAny((name, data) => {
    const account = data && data['Custom-Channel-Vars'] && data['Custom-Channel-Vars']['Account-ID'];
    if (account !== s.account) results[i].foreign += 1;
    results[i].events.push(data && data['Call-ID']);
  });
  socket.on('connect_error', (e) => process.stdout.write(JSON.stringify({ type: 'connect_error', index: i, message: String(e.message) }) + '\n'));
});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'report') {
    process.stdout.write(JSON.stringify({ type: 'report', sockets: results }) + '\n');
    setTimeout(() => process.exit(0), 50);
  }
});
