// Opens the original Blackhole docs' example client page (socket.io 0.9 API) in headless
// Chromium against an edge, and prints every console.log argument as a JSON line.
// argv: --edge URL --account ID --token TOKEN [--transports xhr-polling] [--tls-ca FILE]
// The page and socket.io-client@0.9.16's dist/socket.io.js are served by this script.
'use strict';

const http = require('http');
const fs = require('fs');
const path = require('path');
const readline = require('readline');
const { chromium } = require('playwright-core');

function arg(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const edge = arg('edge');
const account = arg('account');
const token = arg('token');
const transports = arg('transports');
const clientJs = fs.readFileSync(path.join(__dirname, 'node_modules/socket.io-client-09/dist/socket.io.js'));

// The example client of the Blackhole docs, with the server, account and token filled in.
const options = transports ? `, { transports: ${JSON.stringify(transports.split(','))} }` : '';
const page = `<html>
  <head>
    <script src="/socket.io.js"></script>
  </head>
  <body>
    <div id="content"></div>
    <script>
      var socket = io.connect(${JSON.stringify(edge)}${options});
      socket.emit("subscribe", { account_id: "${account}", auth_token: "${token}", binding: "call.CHANNEL_CREATE.*"});
      socket.emit("subscribe", { account_id: "${account}", auth_token: "${token}", binding: "call.CHANNEL_ANSWER.*"});
      socket.emit("subscribe", { account_id: "${account}", auth_token: "${token}", binding: "call.CHANNEL_DESTROY.*"});
      socket.emit("subscribe", { account_id: "${account}", auth_token: "${token}", binding: "conference.event.*"});

      socket.on("participants_event", function (data) {
        console.log(data);
      });
      socket.on("CHANNEL_CREATE", function (data) {
        console.log(data); // data = EventJObj
      });
      socket.on("CHANNEL_ANSWER", function (data) {
        console.log(data);
      });
      socket.on("CHANNEL_DESTROY", function (data) {
        console.log(data);
      });
    </script>
  </body>
</html>`;

function out(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

const server = http.createServer((req, res) => {
  if (req.url === '/socket.io.js') {
    res.writeHead(200, { 'Content-Type': 'application/javascript' });
    res.end(clientJs);
  } else {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(page);
  }
});

server.listen(0, '127.0.0.1', async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'].concat(arg('tls-ca') ? ['--ignore-certificate-errors'] : []),
  });
  const tab = await browser.newPage();
  tab.on('console', async (msg) => {
    for (const a of msg.args()) {
      try { out({ type: 'console', value: await a.jsonValue() }); } catch (e) { out({ type: 'console', text: msg.text() }); }
    }
  });
  tab.on('pageerror', (e) => out({ type: 'pageerror', message: String(e) }));
  await tab.goto(`http://127.0.0.1:${server.address().port}/`);
  out({ type: 'loaded' });
  readline.createInterface({ input: process.stdin }).on('line', async (line) => {
    if (line.trim() === 'close') {
      await browser.close();
      server.close();
      process.exit(0);
    }
  });
});
