// A raw websocket client (the `ws` package) for protocol-level tests: sends the frames given as
// JSON in argv[3] (strings are text frames; {"repeat":"x","times":N} is one big text frame),
// then prints every message received and the close code as JSON lines, and exits after argv[4] ms.
'use strict';

const WebSocket = require('ws');
const url = process.argv[2];
const frames = JSON.parse(process.argv[3] || '[]');
const wait = Number(process.argv[4] || 2000);

function out(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

const ws = new WebSocket(url);
ws.on('unexpected-response', (req, res) => { out({ type: 'http', status: res.statusCode }); process.exit(0); });
ws.on('error', (e) => out({ type: 'error', message: String(e.message) }));
ws.on('open', () => {
  out({ type: 'open' });
  for (const f of frames) {
    ws.send(typeof f === 'string' ? f : f.repeat.repeat(f.times));
  }
});
ws.on('message', (data, isBinary) => out({ type: 'message', data: isBinary ? null : data.toString() }));
ws.on('close', (code, reason) => { out({ type: 'close', code, reason: reason.toString() }); process.exit(0); });
setTimeout(() => { out({ type: 'timeout' }); process.exit(0); }, wait);
