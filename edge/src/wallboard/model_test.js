// Unit tests of the wallboard model (run by `cargo test`, see tests.rs): node model_test.js
// <wallboard-model.js> <testdata/kazoo dir>. Exits non-zero on the first failure.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const [modelPath, kazooDir] = process.argv.slice(2);
require(path.resolve(modelPath));
const { Board, GREGORIAN_OFFSET, WINDOW_MS, FEED_MAX, STALE_TTL_MS, eventTimeMs, formatDuration, timings } =
  globalThis.WallboardModel;

const derived = (name) =>
  JSON.parse(fs.readFileSync(path.join(kazooDir, `v4_ws_event_${name}.DERIVED.json`), 'utf8'));
const REAL_ACCOUNT = '4b8c6fec4b2597882c0390202d195419';
const ACCOUNT = 'cea599337b69fb3eee2e4fbe58318e1a';
const OTHER = 'a90860ec1aff3d26177fbe6afc64e268';
const T0 = 1750000000000;
let msgId = 0;

/** A normalized Kazoo 4.x call event, as the edge sends it. */
function ev(name, callId, t, extra = {}) {
  return {
    action: 'event',
    subscribed_key: 'call.*.*',
    name,
    data: {
      call_id: callId,
      event_name: name,
      call_direction: 'inbound',
      caller_id_name: 'Caller ' + callId,
      caller_id_number: '+1555000' + callId.length,
      callee_id_name: 'Support',
      callee_id_number: '+18005550100',
      custom_channel_vars: { account_id: ACCOUNT, account_name: 'Acme Support' },
      msg_id: String(++msgId),
      timestamp: Math.floor((T0 + t) / 1000) + GREGORIAN_OFFSET,
      ...extra,
    },
  };
}

const tests = [];
const test = (name, fn) => tests.push([name, fn]);

test('real Kazoo envelopes: create rings, answer answers, destroy removes and counts', () => {
  const board = new Board(REAL_ACCOUNT, T0);
  assert.equal(board.apply(derived('CHANNEL_CREATE'), T0), true);
  let [call] = board.activeCalls();
  assert.equal(call.id, 'at6dmu4ffk97vnlp6qfq');
  assert.equal(call.state, 'ringing');
  assert.equal(call.direction, 'inbound');
  assert.equal(call.callerName, 'user_wpxnx7am9w');
  assert.equal(board.accountName, 'wefwefwefwef');
  board.apply(derived('CHANNEL_ANSWER'), T0 + 1000);
  [call] = board.activeCalls();
  assert.equal(call.state, 'answered');
  assert.equal(call.callerName, 'web phone', 'caller id follows the latest event');
  board.apply(derived('CHANNEL_DESTROY'), T0 + 32000);
  assert.equal(board.activeCalls().length, 0);
  assert.deepEqual(board.counters(T0 + 33000), {
    calls: 1, answered: 1, missed: 0, avgWaitMs: 1000, avgTalkMs: 31000,
  });
  assert.deepEqual(board.feed.map((e) => e.name), ['CHANNEL_DESTROY', 'CHANNEL_ANSWER', 'CHANNEL_CREATE']);
  assert.equal(board.feed[0].cause, 'ended');
});

test('another account\'s events and non-call frames are ignored', () => {
  const board = new Board(ACCOUNT, T0);
  const foreign = ev('CHANNEL_CREATE', 'x1', 0);
  foreign.data.custom_channel_vars.account_id = OTHER;
  assert.equal(board.apply(foreign, T0), false);
  assert.equal(board.apply({ action: 'reply', status: 'success', data: {} }, T0), false);
  assert.equal(board.apply({ action: 'event', name: 'doc_created', data: { call_id: 'y' } }, T0), false);
  assert.equal(board.apply(ev('CHANNEL_CREATE', '', 0), T0), false);
  assert.equal(board.activeCalls().length, 0);
  assert.equal(board.feed.length, 0);
  assert.equal(board.counters(T0).calls, 0);
  // Upper-case ids in events still match.
  const upper = ev('CHANNEL_CREATE', 'x2', 0);
  upper.data.custom_channel_vars.account_id = ACCOUNT.toUpperCase();
  assert.equal(board.apply(upper, T0), true);
});

test('hold and unhold; a destroyed call without answer is missed', () => {
  const board = new Board(ACCOUNT, T0);
  board.apply(ev('CHANNEL_CREATE', 'a', 0), T0);
  board.apply(ev('CHANNEL_ANSWER', 'a', 4000), T0 + 4000);
  board.apply(ev('CHANNEL_BRIDGE', 'a', 4200), T0 + 4200);
  board.apply(ev('CHANNEL_HOLD', 'a', 10000), T0 + 10000);
  assert.equal(board.calls.get('a').state, 'on-hold');
  assert.equal(timings(board.calls.get('a'), T0 + 15000).hold, 5000);
  board.apply(ev('CHANNEL_UNHOLD', 'a', 20000), T0 + 20000);
  assert.equal(board.calls.get('a').state, 'answered');
  assert.equal(timings(board.calls.get('a'), T0 + 21000).hold, null);
  board.apply(ev('CHANNEL_CREATE', 'b', 21000), T0 + 21000);
  board.apply(ev('CHANNEL_DESTROY', 'b', 30000, { hangup_cause: 'ORIGINATOR_CANCEL' }), T0 + 30000);
  board.apply(ev('CHANNEL_CREATE', 'c', 31000), T0 + 31000);
  board.apply(ev('CHANNEL_DESTROY', 'c', 40000, { hangup_cause: 'NO_ANSWER' }), T0 + 40000);
  const c = board.counters(T0 + 41000);
  assert.deepEqual(c, { calls: 3, answered: 1, missed: 2, avgWaitMs: 4000, avgTalkMs: null });
  assert.equal(board.feed[0].cause, 'no answer');
  assert.equal(board.feed[2].cause, 'abandoned');
});

test('ringing calls come first, then on hold, then talking; oldest first', () => {
  const board = new Board(ACCOUNT, T0);
  board.apply(ev('CHANNEL_CREATE', 'talk', 0), T0);
  board.apply(ev('CHANNEL_ANSWER', 'talk', 1000), T0 + 1000);
  board.apply(ev('CHANNEL_CREATE', 'held', 2000), T0 + 2000);
  board.apply(ev('CHANNEL_HOLD', 'held', 3000), T0 + 3000);
  board.apply(ev('CHANNEL_CREATE', 'ring2', 5000), T0 + 5000);
  board.apply(ev('CHANNEL_CREATE', 'ring1', 4000), T0 + 5500);
  assert.deepEqual(board.activeCalls().map((c) => c.id), ['ring2', 'ring1', 'held', 'talk']);
});

test('durations tick on the browser clock; wait freezes at the answer', () => {
  const board = new Board(ACCOUNT, T0);
  // The switch clock is an hour off: durations must not care.
  board.apply(ev('CHANNEL_CREATE', 'a', -3600000), T0);
  assert.deepEqual(timings(board.calls.get('a'), T0 + 7000), {
    wait: 7000, waitExact: true, talk: null, talkExact: true, hold: null,
  });
  board.apply(ev('CHANNEL_ANSWER', 'a', -3590000), T0 + 9000);
  const t = timings(board.calls.get('a'), T0 + 69000);
  assert.equal(t.wait, 9000);
  assert.equal(t.talk, 60000);
  assert.equal(t.talkExact, true);
});

test('calls already up when the page opened show minimum durations and are not counted', () => {
  const board = new Board(ACCOUNT, T0);
  board.apply(ev('CHANNEL_HOLD', 'old', 0), T0);
  const call = board.calls.get('old');
  assert.equal(call.state, 'on-hold');
  const t = timings(call, T0 + 5000);
  assert.equal(t.talkExact, false);
  assert.equal(t.wait, null);
  board.apply(ev('CHANNEL_ANSWER', 'old2', 0), T0);
  assert.equal(timings(board.calls.get('old2'), T0 + 1000).talkExact, true);
  board.apply(ev('CHANNEL_DESTROY', 'old', 9000), T0 + 9000);
  board.apply(ev('CHANNEL_DESTROY', 'old2', 9000), T0 + 9000);
  board.apply(ev('CHANNEL_DESTROY', 'never-seen', 9000), T0 + 9000);
  assert.deepEqual(board.counters(T0 + 10000), {
    calls: 0, answered: 0, missed: 0, avgWaitMs: null, avgTalkMs: null,
  });
  assert.equal(board.activeCalls().length, 0);
});

test('duplicate deliveries are applied once', () => {
  const board = new Board(ACCOUNT, T0);
  const create = ev('CHANNEL_CREATE', 'a', 0);
  assert.equal(board.apply(create, T0), true);
  assert.equal(board.apply(JSON.parse(JSON.stringify(create)), T0), false);
  assert.equal(board.counters(T0).calls, 1);
  assert.equal(board.feed.length, 1);
});

test('a second leg naming the first as its other leg is the same call', () => {
  const board = new Board(ACCOUNT, T0);
  board.apply(ev('CHANNEL_CREATE', 'a-leg', 0), T0);
  board.apply(ev('CHANNEL_CREATE', 'b-leg', 100, { call_direction: 'outbound', other_leg_call_id: 'a-leg' }), T0 + 100);
  assert.deepEqual(board.activeCalls().map((c) => c.id), ['a-leg']);
  board.apply(ev('CHANNEL_ANSWER', 'b-leg', 3000, { other_leg_call_id: 'a-leg' }), T0 + 3000);
  assert.equal(board.calls.get('a-leg').state, 'answered');
  assert.equal(board.calls.get('a-leg').direction, 'inbound', 'the first leg describes the call');
  board.apply(ev('CHANNEL_DESTROY', 'b-leg', 9000), T0 + 9000);
  assert.equal(board.activeCalls().length, 1, 'the call lives until its first leg hangs up');
  board.apply(ev('CHANNEL_DESTROY', 'a-leg', 9000), T0 + 9000);
  assert.equal(board.activeCalls().length, 0);
  assert.deepEqual(board.counters(T0 + 9000), {
    calls: 1, answered: 1, missed: 0, avgWaitMs: 3000, avgTalkMs: 6000,
  });
});

test('two legs linked only by a later bridge are folded into one call', () => {
  const board = new Board(ACCOUNT, T0);
  board.apply(ev('CHANNEL_CREATE', 'a', 0), T0);
  board.apply(ev('CHANNEL_CREATE', 'b', 100), T0 + 100);
  assert.equal(board.counters(T0 + 100).calls, 2);
  board.apply(ev('CHANNEL_BRIDGE', 'a', 2000, { other_leg_call_id: 'b' }), T0 + 2000);
  assert.deepEqual(board.activeCalls().map((c) => c.id), ['a']);
  assert.equal(board.counters(T0 + 2000).calls, 1);
  board.apply(ev('CHANNEL_HOLD', 'b', 3000), T0 + 3000);
  assert.equal(board.calls.get('a').state, 'on-hold');
});

test('late events of a hung-up call do not bring it back', () => {
  const board = new Board(ACCOUNT, T0);
  board.apply(ev('CHANNEL_CREATE', 'a', 0), T0);
  board.apply(ev('CHANNEL_DESTROY', 'a', 5000), T0 + 5000);
  board.apply(ev('CHANNEL_ANSWER', 'a', 4000), T0 + 5100);
  assert.equal(board.activeCalls().length, 0);
});

test('an event older than the last one applied does not change the state', () => {
  const board = new Board(ACCOUNT, T0);
  board.apply(ev('CHANNEL_CREATE', 'a', 0), T0);
  board.apply(ev('CHANNEL_HOLD', 'a', 10000), T0 + 10000);
  board.apply(ev('CHANNEL_ANSWER', 'a', 9000), T0 + 10100);
  assert.equal(board.calls.get('a').state, 'on-hold');
  // But a late answer of a ringing call still answers it.
  board.apply(ev('CHANNEL_CREATE', 'b', 20000), T0 + 20000);
  board.apply(ev('CHANNEL_ANSWER', 'b', 19000), T0 + 20500);
  assert.equal(board.calls.get('b').state, 'answered');
  assert.equal(board.counters(T0 + 21000).answered, 1);
  const feedTimes = board.feed.map((e) => e.ts);
  assert.deepEqual(feedTimes, [...feedTimes].sort((x, y) => y - x), 'the feed is in event-time order');
});

test('calls from before a drop are flagged, then dropped if never heard of again', () => {
  const board = new Board(ACCOUNT, T0);
  board.apply(ev('CHANNEL_CREATE', 'kept', 0), T0);
  board.apply(ev('CHANNEL_CREATE', 'gone', 0), T0);
  board.markStale(T0 + 1000);
  assert.equal(board.calls.get('gone').stale, true);
  board.apply(ev('CHANNEL_ANSWER', 'kept', 2000), T0 + 2000);
  assert.equal(board.calls.get('kept').stale, false);
  assert.equal(board.prune(T0 + 1000 + STALE_TTL_MS + 1), true);
  assert.deepEqual(board.activeCalls().map((c) => c.id), ['kept']);
  assert.equal(board.counters(T0 + 1000 + STALE_TTL_MS + 1).missed, 0, 'an unseen end is not a miss');
});

test('a new CHANNEL_CREATE for a flagged call starts it over', () => {
  const board = new Board(ACCOUNT, T0);
  board.apply(ev('CHANNEL_CREATE', 'a', 0), T0);
  board.apply(ev('CHANNEL_ANSWER', 'a', 1000), T0 + 1000);
  board.apply(ev('CHANNEL_CREATE', 'a', 1500), T0 + 1500);
  assert.equal(board.calls.get('a').state, 'answered', 'a repeated create of a live call changes nothing');
  board.markStale(T0 + 2000);
  board.apply(ev('CHANNEL_CREATE', 'a', 60000), T0 + 60000);
  const call = board.calls.get('a');
  assert.equal(call.state, 'ringing');
  assert.equal(call.stale, false);
  assert.equal(timings(call, T0 + 61000).wait, 1000);
  assert.equal(board.counters(T0 + 61000).calls, 2);
});

test('counters roll over the last hour', () => {
  const board = new Board(ACCOUNT, T0);
  board.apply(ev('CHANNEL_CREATE', 'a', 0), T0);
  board.apply(ev('CHANNEL_DESTROY', 'a', 5000), T0 + 5000);
  board.apply(ev('CHANNEL_CREATE', 'b', 600000), T0 + 600000);
  assert.equal(board.counters(T0 + WINDOW_MS - 1).calls, 2);
  assert.equal(board.counters(T0 + WINDOW_MS + 1).calls, 1);
  assert.equal(board.counters(T0 + WINDOW_MS + 1).missed, 1);
  assert.equal(board.counters(T0 + WINDOW_MS + 5001).missed, 0);
  board.prune(T0 + WINDOW_MS + 5001);
  assert.equal(board.facts.length, 1);
});

test('the feed keeps the newest events only', () => {
  const board = new Board(ACCOUNT, T0);
  for (let i = 0; i < FEED_MAX + 20; i++) board.apply(ev('CHANNEL_CREATE', 'c' + i, i * 1000), T0 + i * 1000);
  assert.equal(board.feed.length, FEED_MAX);
  assert.equal(board.feed[0].callId, 'c' + (FEED_MAX + 19));
  assert.equal(board.feed[0].label, 'New call');
  assert.deepEqual(board.feed[0].caller, { name: 'Caller c' + (FEED_MAX + 19), number: '+15550003' });
});

test('time helpers', () => {
  assert.equal(eventTimeMs(63610891956), (63610891956 - GREGORIAN_OFFSET) * 1000);
  assert.equal(eventTimeMs('63610891956'), 1443672756000);
  assert.equal(eventTimeMs(1443672756), 1443672756000);
  assert.equal(eventTimeMs(undefined), null);
  assert.equal(eventTimeMs('soon'), null);
  assert.equal(formatDuration(0), '0:00');
  assert.equal(formatDuration(65999), '1:05');
  assert.equal(formatDuration(3723000), '1:02:03');
  assert.equal(formatDuration(null), '—');
  assert.equal(formatDuration(-5), '0:00');
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
