// Drives a real, unmodified socket.io-client (2.x or 4.x) for the end-to-end suite.
// Prints one JSON object per line on stdout: {"type":"connect"}, {"type":"ack",...},
// {"type":"event","name":...,"data":...}, {"type":"disconnect","reason":...}.
// Reads commands from stdin, one JSON per line: {"op":"subscribe", "request":{...}},
// {"op":"unsubscribe", "request":{...}}, {"op":"close"}.
'use strict';

const readline = require('readline');

function arg(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const url = arg('url');
const major = arg('client', '4');
const transports = arg('transports', 'websocket').split(',');
const authToken = arg('auth-token');
const io = require(major === '2' ? 'socket.io-client-2' : 'socket.io-client-4');

const options = { transports, reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 1000, forceNew: true };
if (major === '4' && authToken) options.auth = { token: authToken };
const socket = io(url, options);

function out(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

socket.on('connect', () => {
  const transport = major === '2' ? socket.io.engine.transport.name : socket.io.engine.transport.name;
  out({ type: 'connect', transport });
});
socket.on('disconnect', (reason) => out({ type: 'disconnect', reason, at: Date.now() }));
socket.on('connect_error', (err) => out({ type: 'connect_error', message: String(err && err.message) }));
if (socket.io && socket.io.engine === undefined) {
  // engine is created lazily in some versions
}
socket.io.on('open', () => {
  const engine = socket.io.engine;
  engine.on('upgrade', (t) => out({ type: 'upgrade', transport: t.name }));
});

const known = new Set(['connect', 'disconnect', 'connect_error']);
const onAny = (name, data) => { if (!known.has(name)) out({ type: 'event', name, data }); };
if (typeof socket.onAny === 'function') {
  socket.onAny(onAny);
} else {
  // socket.io-client 2.x has no onAny: wrap the packet handler.
  const onevent = socket.onevent;
  socket.onevent = function (packet) {
    const args = packet.data || [];
    onAny(args[0], args[1]);
    onevent.call(this, packet);
  };
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let cmd;
  try { cmd = JSON.parse(line); } catch (e) { return; }
  if (cmd.op === 'subscribe' || cmd.op === 'unsubscribe') {
    socket.emit(cmd.op, cmd.request, (reply) => out({ type: 'ack', op: cmd.op, reply }));
  } else if (cmd.op === 'emit') {
    socket.emit(cmd.op_name || cmd.name, cmd.request);
  } else if (cmd.op === 'close') {
    socket.close();
    setTimeout(() => process.exit(0), 100);
  }
});
rl.on('close', () => { socket.close(); setTimeout(() => process.exit(0), 100); });
