// An interactive websocket client (the `ws` package), as Monster UI uses the Kazoo 4.x JSON
// protocol: every stdin line is sent as one text frame; every message received is printed as a
// JSON line {"type":"message","data":<parsed JSON or text>}, then {"type":"close","code":..}.
'use strict';

const WebSocket = require('ws');
const readline = require('readline');

const url = process.argv[2];
const headers = process.argv[3] ? JSON.parse(process.argv[3]) : {};
function out(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

const ws = new WebSocket(url, { headers });
ws.on('unexpected-response', (req, res) => { out({ type: 'http', status: res.statusCode }); process.exit(0); });
ws.on('error', (e) => out({ type: 'error', message: String(e.message) }));
ws.on('open', () => out({ type: 'open' }));
ws.on('message', (data) => {
  const text = data.toString();
  let parsed;
  try { parsed = JSON.parse(text); } catch (e) { parsed = text; }
  out({ type: 'message', data: parsed });
});
ws.on('close', (code) => { out({ type: 'close', code }); process.exit(0); });
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === '__close__') { ws.close(1000); return; }
  ws.send(line);
});
