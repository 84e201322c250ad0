// Unit tests of the wallboard's websocket link (run by `cargo test`, see tests.rs):
// node link_test.js <wallboard-link.js>. A fake WebSocket and a fake clock stand in for the
// browser's. Exits non-zero on the first failure.
'use strict';

const assert = require('node:assert/strict');
const path = require('node:path');

require(path.resolve(process.argv[2]));
const { Link, BINDING, MAX_RETRY_MS, retryDelay, socketUrl } = globalThis.WallboardLink;

const ACCOUNT = 'cea599337b69fb3eee2e4fbe58318e1a';
const TOKEN = 'demo_7sgq8FRV5Q4MggbU9Qa21mR6fbfprTRT';

/** A clock and timers that only move when told to. */
class FakeTime {
  constructor() {
    this.now = 1000000;
    this.timers = new Map();
    this.nextId = 1;
  }
  setTimeout(fn, ms) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(id) {
    this.timers.delete(id);
  }
  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      let next = null;
      for (const [id, t] of this.timers) if (t.at <= end && (!next || t.at < next[1].at)) next = [id, t];
      if (!next) break;
      this.timers.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = end;
  }
}

function harness(random = () => 0.5) {
  const time = new FakeTime();
  const sockets = [];
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.sent = [];
      this.closed = false;
      sockets.push(this);
    }
    send(text) {
      this.sent.push(JSON.parse(text));
    }
    close() {
      this.closed = true;
    }
    // What the server does:
    open() {
      this.onopen && this.onopen({});
    }
    receive(message) {
      this.onmessage && this.onmessage({ data: JSON.stringify(message) });
    }
    reply(status, data) {
      const request = this.sent[this.sent.length - 1];
      this.receive({ action: 'reply', request_id: request.request_id, status, data });
    }
    serverClose(code) {
      this.closed = true;
      this.onclose && this.onclose({ code: code || 1006, reason: '' });
    }
  }
  const statuses = [];
  const events = [];
  const fatal = [];
  const link = new Link({
    url: 'ws://edge.test/ws',
    accountId: ACCOUNT,
    token: TOKEN,
    WebSocket: FakeSocket,
    setTimeout: (fn, ms) => time.setTimeout(fn, ms),
    clearTimeout: (id) => time.clearTimeout(id),
    now: () => time.now,
    random,
    onStatus: (s) => statuses.push(s),
    onEvent: (e) => events.push(e),
    onFatal: (m) => fatal.push(m),
  });
  const last = () => sockets[sockets.length - 1];
  const state = () => statuses[statuses.length - 1].state;
  return { time, sockets, statuses, events, fatal, link, last, state };
}

const tests = [];
const test = (name, fn) => tests.push([name, fn]);

test('subscribes on open and is connected once the reply says so', () => {
  const h = harness();
  h.link.start();
  assert.equal(h.sockets.length, 1);
  assert.equal(h.last().url, 'ws://edge.test/ws');
  assert.equal(h.state(), 'connecting');
  h.last().open();
  const [subscribe] = h.last().sent;
  assert.equal(subscribe.action, 'subscribe');
  assert.equal(subscribe.auth_token, TOKEN);
  assert.equal(typeof subscribe.request_id, 'string');
  assert.deepEqual(subscribe.data, { account_id: ACCOUNT, binding: 'call.*.*' });
  assert.equal(BINDING, 'call.*.*');
  assert.equal(h.state(), 'connecting');
  h.last().reply('success', { subscribed: ['call.*.*'] });
  assert.equal(h.state(), 'connected');
  const event = { action: 'event', name: 'CHANNEL_CREATE', data: { call_id: 'a' } };
  h.last().receive(event);
  assert.deepEqual(h.events, [event]);
  h.last().receive({ action: 'reply', request_id: 'someone-else', status: 'error', data: { errors: ['x'] } });
  assert.equal(h.state(), 'connected', 'replies to other requests do not matter');
});

test('reconnects with backoff after a drop and subscribes again every time', () => {
  const h = harness();
  h.link.start();
  h.last().open();
  h.last().reply('success', {});
  h.last().serverClose(1006);
  assert.equal(h.state(), 'reconnecting');
  const waiting = h.statuses[h.statuses.length - 1];
  assert.equal(waiting.retryAt, h.time.now + 1000, 'first retry after 1 s');
  assert.match(waiting.detail, /1006/);
  h.time.advance(999);
  assert.equal(h.sockets.length, 1);
  h.time.advance(1);
  assert.equal(h.sockets.length, 2);
  assert.equal(h.state(), 'reconnecting', 'still reconnecting until subscribed again');
  // The edge is still down: each attempt waits longer, up to 10 s.
  const delays = [];
  for (let i = 0; i < 6; i++) {
    const before = h.time.now;
    h.last().serverClose(1006);
    const retryAt = h.statuses[h.statuses.length - 1].retryAt;
    delays.push(retryAt - before);
    h.time.advance(retryAt - before);
  }
  assert.deepEqual(delays, [1700, 3400, 6800, 8500, 8500, 8500]);
  h.last().open();
  const again = h.last().sent[0];
  assert.equal(again.action, 'subscribe');
  assert.deepEqual(again.data, { account_id: ACCOUNT, binding: 'call.*.*' });
  h.last().reply('success', {});
  assert.equal(h.state(), 'connected');
  h.last().serverClose(1001);
  assert.equal(h.statuses[h.statuses.length - 1].retryAt - h.time.now, 1000, 'backoff resets once subscribed');
});

test('the retry delay is jittered between 70% and 100% of 1 s, 2 s, ... capped at 10 s', () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const base = Math.min(MAX_RETRY_MS, 1000 * 2 ** attempt);
    const low = retryDelay(attempt, () => 0);
    const high = retryDelay(attempt, () => 0.999999);
    assert.equal(low, Math.max(1000, Math.round(base * 0.7)));
    assert.equal(high, base);
    assert.ok(high <= MAX_RETRY_MS && low >= 1000);
  }
});

test('an authentication error stops for good, without showing the token', () => {
  const h = harness();
  h.link.start();
  h.last().open();
  h.last().reply('error', { errors: ['failed to authenticate token ' + TOKEN] });
  assert.equal(h.state(), 'error');
  assert.deepEqual(h.fatal, ['failed to authenticate token …']);
  assert.ok(!JSON.stringify(h.statuses).includes(TOKEN));
  assert.equal(h.last().closed, true);
  h.time.advance(60000);
  assert.equal(h.sockets.length, 1, 'no reconnect after a fatal error');
});

test('other refusals are retried, and the reason is shown', () => {
  const h = harness();
  h.link.start();
  h.last().open();
  h.last().reply('error', { errors: ['rate limiting threshold hit for 10.1.2.3:53211!'] });
  assert.equal(h.state(), 'connecting');
  assert.match(h.statuses[h.statuses.length - 1].detail, /rate limiting/);
  assert.equal(h.sockets[0].closed, true);
  assert.deepEqual(h.fatal, []);
  h.time.advance(1000);
  assert.equal(h.sockets.length, 2);
});

test('a subscribe left unanswered is given up after 10 s', () => {
  const h = harness();
  h.link.start();
  h.last().open();
  h.time.advance(10000);
  assert.equal(h.sockets[0].closed, true);
  assert.match(h.statuses[h.statuses.length - 1].detail, /no reply to subscribe/);
  h.time.advance(1000);
  assert.equal(h.sockets.length, 2);
});

test('pings keep the socket alive and detect a dead one', () => {
  const h = harness();
  h.link.start();
  h.last().open();
  h.last().reply('success', {});
  h.time.advance(30000);
  const ping = h.last().sent[h.last().sent.length - 1];
  assert.equal(ping.action, 'ping');
  assert.equal(ping.auth_token, TOKEN);
  h.last().reply('success', { response: 'pong' });
  h.time.advance(15000);
  assert.equal(h.state(), 'connected');
  // The next ping gets no answer at all: the path is dead.
  h.time.advance(15000);
  assert.equal(h.last().sent[h.last().sent.length - 1].action, 'ping');
  h.time.advance(15000);
  assert.equal(h.sockets[0].closed, true);
  assert.equal(h.state(), 'reconnecting');
  assert.match(h.statuses[h.statuses.length - 1].detail, /no reply to ping/);
});

test('any frame counts as a reply to a ping', () => {
  const h = harness();
  h.link.start();
  h.last().open();
  h.last().reply('success', {});
  h.time.advance(30000);
  h.last().receive({ action: 'event', name: 'CHANNEL_CREATE', data: {} });
  h.time.advance(15000);
  assert.equal(h.state(), 'connected');
});

test('stop closes the socket and never reconnects', () => {
  const h = harness();
  h.link.start();
  h.last().open();
  h.last().reply('success', {});
  const count = h.statuses.length;
  h.link.stop();
  assert.equal(h.sockets[0].closed, true);
  h.time.advance(120000);
  assert.equal(h.sockets.length, 1);
  assert.equal(h.statuses.length, count, 'no status after stop');
});

test('retryNow skips the wait', () => {
  const h = harness();
  h.link.start();
  h.last().serverClose(1006);
  assert.equal(h.sockets.length, 1);
  h.link.retryNow();
  assert.equal(h.sockets.length, 2);
  h.link.retryNow();
  assert.equal(h.sockets.length, 2, 'only when waiting');
});

test('garbage frames are ignored', () => {
  const h = harness();
  h.link.start();
  h.last().open();
  h.last().onmessage({ data: 'not json' });
  h.last().onmessage({ data: new ArrayBuffer(2) });
  h.last().onmessage({ data: 'null' });
  assert.deepEqual(h.events, []);
});

test('the socket URL follows the page', () => {
  assert.equal(socketUrl({ protocol: 'http:', host: '127.0.0.1:5555' }), 'ws://127.0.0.1:5555/ws');
  assert.equal(socketUrl({ protocol: 'https:', host: 'board.example' }), 'wss://board.example/ws');
});

let failed = 0;
for (const [name, fn] of tests) {
  try {
    fn();
    console.log('ok   ' + name);
  } catch (err) {
    failed++;
    console.error('FAIL ' + name + '\n' + (err && err.stack ? err.stack : err));
  }
}
if (failed) process.exit(1);
