// Unit tests of StreamscribeClient's connection logic (with a fake WebSocket):
// authentication (API key, access token string or function), reconnect with backoff, resending buffered audio, and times
// that stay on one clock across connections; and of the transcript exports.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';

import { StreamscribeClient, Transcript, listenUrl, timestamp } from '../streamscribe.js';

class FakeSocket {
  static instances = [];
  static refuse = 0; // refuse this many connection attempts (close before open)

  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.instances.push(this);
    setTimeout(() => {
      if (FakeSocket.refuse > 0) {
        FakeSocket.refuse -= 1;
        this.drop(1006, '');
      } else if (this.readyState === 0) {
        this.readyState = 1;
        this.onopen?.({});
      }
    }, 1);
  }

  send(data) {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(data);
  }

  close(code = 1000, reason = '') {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    setTimeout(() => this.drop(code, reason), 1);
  }

  /** The server side: deliver a message. */
  message(payload) {
    this.onmessage?.({ data: JSON.stringify(payload) });
  }

  /** The connection ends (server close or network drop). */
  drop(code, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** Int16 samples of the binary frames sent, concatenated. */
  audio() {
    const frames = this.sent.filter((d) => d instanceof ArrayBuffer).map((b) => new Int16Array(b));
    return Int16Array.from(frames.flatMap((f) => [...f]));
  }

  texts() {
    return this.sent.filter((d) => typeof d === 'string').map((t) => JSON.parse(t));
  }
}

const clients = [];

afterEach(() => {
  // no timers may outlive a test (they would keep node running)
  for (const client of clients.splice(0)) {
    client.clearTimers();
    client.closeSocket();
  }
});

function newClient(options = {}) {
  FakeSocket.instances = [];
  FakeSocket.refuse = 0;
  const client = new StreamscribeClient({
    server: 'http://127.0.0.1:8000',
    WebSocket: FakeSocket,
    reconnect: { initialDelayMs: 2, maxDelayMs: 10, ...(options.reconnect ?? {}) },
    ...options,
  });
  clients.push(client);
  return client;
}

/** `count` samples whose values are their absolute index (mod 32768), to recognize what was resent. */
function ramp(from, count) {
  return Int16Array.from({ length: count }, (_, i) => (from + i) % 32768);
}

function results(seconds, words, isFinal) {
  const [start, end] = [words[0][1], words[words.length - 1][2]];
  return {
    type: 'Results',
    is_final: isFinal,
    speech_final: isFinal,
    start: seconds ?? start,
    duration: end - (seconds ?? start),
    channel_index: [0, 1],
    channel: {
      alternatives: [
        {
          transcript: words.map((w) => w[0]).join(' '),
          confidence: 0.9,
          words: words.map(([word, s, e]) => ({ word, punctuated_word: word, start: s, end: e, confidence: 0.9 })),
        },
      ],
    },
  };
}

const until = async (predicate, what) => {
  for (let i = 0; i < 500; i++) {
    if (predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  assert.fail(`timed out waiting for ${what}`);
};

describe('listenUrl', () => {
  it('maps http(s) to ws(s), keeps a path prefix and repeats array parameters', () => {
    assert.equal(
      listenUrl('https://example.com/stt', { interim_results: true, keyterm: ['a b', 'c'], skip: undefined }),
      'wss://example.com/stt/v1/listen?interim_results=true&keyterm=a+b&keyterm=c',
    );
    assert.equal(listenUrl('ws://h:1/v1/listen', { x: 1 }), 'ws://h:1/v1/listen?x=1');
    assert.throws(() => listenUrl('ftp://h/', {}), TypeError);
  });
});

describe('StreamscribeClient connection', () => {
  it('asks for 16 kHz linear16 with interim results and authenticates with the token subprotocol', async () => {
    const client = newClient({ apiKey: 'secret' });
    await client.connect();
    const [socket] = FakeSocket.instances;
    const url = new URL(socket.url);
    assert.equal(url.pathname, '/v1/listen');
    assert.equal(url.searchParams.get('encoding'), 'linear16');
    assert.equal(url.searchParams.get('sample_rate'), '16000');
    assert.equal(url.searchParams.get('interim_results'), 'true');
    assert.equal(url.searchParams.get('vad_events'), 'true');
    assert.equal(url.searchParams.get('utterance_end_ms'), '1000');
    assert.deepEqual(socket.protocols, ['token', 'secret']);
    assert.equal(client.state, 'live');
    client.sendAudio(ramp(0, 800));
    assert.deepEqual([...socket.audio()], [...ramp(0, 800)]);
    const stopping = client.stop();
    await until(() => socket.texts().some((t) => t.type === 'CloseStream'), 'CloseStream');
    socket.message(results(0, [['hello', 0.01, 0.04]], true));
    socket.drop(1000);
    await stopping;
    assert.equal(client.state, 'closed');
  });

  it('emits interim, final, speech start and utterance end with the server times', async () => {
    const client = newClient();
    const seen = [];
    for (const type of ['interim', 'final', 'speechstarted', 'utteranceend']) client.on(type, (e) => seen.push([type, e]));
    await client.connect();
    const [socket] = FakeSocket.instances;
    socket.message({ type: 'SpeechStarted', timestamp: 0.5, channel: [0] });
    socket.message(results(0.4, [['ask', 0.5, 0.7]], false));
    socket.message(results(0.4, [['ask', 0.5, 0.7], ['not', 0.8, 1.0]], true));
    socket.message({ type: 'UtteranceEnd', last_word_end: 1.0, channel: [0, 1] });
    assert.deepEqual(seen.map(([type]) => type), ['speechstarted', 'interim', 'final', 'utteranceend']);
    assert.equal(seen[1][1].isFinal, false);
    assert.equal(seen[2][1].transcript, 'ask not');
    assert.equal(seen[2][1].words[1].end, 1.0);
    assert.equal(seen[3][1].lastWordEnd, 1.0);
  });

  it('reconnects after a drop, resends what no final covered plus the gap, and keeps times monotonic', async () => {
    const client = newClient();
    const finals = [];
    const events = [];
    client.on('final', (r) => finals.push(r));
    client.on('reconnecting', (e) => events.push(['reconnecting', e]));
    client.on('reconnected', (e) => events.push(['reconnected', e]));
    await client.connect();
    const first = FakeSocket.instances[0];
    client.sendAudio(ramp(0, 16000)); // 1 s
    client.sendAudio(ramp(16000, 16000)); // 2 s
    // the server finalized the first 1.25 s
    first.message(results(0, [['one', 0.2, 1.25]], true));
    FakeSocket.refuse = 2; // the server is down for two attempts
    first.drop(1006);
    assert.equal(client.state, 'reconnecting');
    client.sendAudio(ramp(32000, 8000)); // spoken during the gap
    await until(() => client.state === 'live', 'reconnect');
    client.sendAudio(ramp(40000, 800));
    const second = FakeSocket.instances.at(-1);
    assert.equal(FakeSocket.instances.length, 4);
    // the new connection starts at 1.25 s: 0.75 s unconfirmed + 0.5 s gap + live audio, nothing lost or repeated
    assert.deepEqual([...second.audio()], [...ramp(20000, 40800 - 20000)]);
    assert.deepEqual(
      events.map(([t, e]) => [t, e.attempt ?? e.connections]),
      [['reconnecting', 1], ['reconnecting', 2], ['reconnecting', 3], ['reconnected', 2]],
    );
    // the new connection's clock restarts at 0 = 1.25 s of the caller's clock
    second.message(results(0.1, [['two', 0.2, 0.9]], true));
    const ms = (t) => Math.round(t * 1000);
    assert.deepEqual(finals.map((f) => [f.transcript, ms(f.start), ms(f.end)]), [['one', 0, 1250], ['two', 1350, 2150]]);
    assert.equal(ms(finals[1].words[0].start), 1450);
  });

  it('replays audio sent before a drop whose final never arrived', async () => {
    const client = newClient();
    await client.connect();
    client.sendAudio(ramp(0, 3200));
    FakeSocket.instances[0].drop(1011, 'internal server error');
    await until(() => client.state === 'live', 'reconnect');
    assert.deepEqual([...FakeSocket.instances[1].audio()], [...ramp(0, 3200)]);
  });

  it('stops with the server reason on a fatal close, without reconnecting', async () => {
    const client = newClient();
    const errors = [];
    client.on('error', (e) => errors.push(e));
    await client.connect();
    FakeSocket.instances[0].drop(1008, 'maximum session length reached');
    assert.equal(client.state, 'closed');
    assert.equal(errors.length, 1);
    assert.equal(errors[0].kind, 'server');
    assert.equal(errors[0].code, 1008);
    assert.equal(errors[0].reason, 'maximum session length reached');
    assert.match(errors[0].message, /maximum session length reached \(1008\)/);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(FakeSocket.instances.length, 1);
  });

  it('fails the first connection with a connect error (e.g. a wrong API key: HTTP 401)', async () => {
    const client = newClient({ apiKey: 'wrong' });
    FakeSocket.refuse = 1;
    await assert.rejects(client.connect(), (error) => error.kind === 'connect' && /API key/.test(error.message));
  });

  it('gives up after maxAttempts failed reconnects', async () => {
    const client = newClient({ reconnect: { maxAttempts: 2 } });
    const errors = [];
    client.on('error', (e) => errors.push(e));
    await client.connect();
    FakeSocket.refuse = 10;
    FakeSocket.instances[0].drop(1006);
    await until(() => client.state === 'closed', 'giving up');
    assert.equal(errors.at(-1).kind, 'connect');
    assert.equal(FakeSocket.instances.length, 3);
  });

  it('caps the audio buffered during a long gap and says so', async () => {
    const client = newClient({ reconnect: { maxBufferSeconds: 1, initialDelayMs: 10000, maxDelayMs: 10000 } });
    const errors = [];
    client.on('error', (e) => errors.push(e));
    await client.connect();
    FakeSocket.instances[0].drop(1006);
    for (let i = 0; i < 30; i++) client.sendAudio(ramp(i * 1600, 1600)); // 3 s
    assert.equal(client.replay.size, 16000);
    assert.equal(client.replay.start, 48000 - 16000);
    assert.deepEqual(errors.map((e) => [e.kind, e.fatal]), [['buffer-overflow', false]]);
  });

  it('surfaces a server Error message without stopping', async () => {
    const client = newClient();
    const errors = [];
    client.on('error', (e) => errors.push(e));
    await client.connect();
    FakeSocket.instances[0].message({ type: 'Error', description: 'unknown message type' });
    assert.equal(errors[0].fatal, false);
    assert.match(errors[0].message, /unknown message type/);
    assert.equal(client.state, 'live');
  });
});

describe('StreamscribeClient authentication', () => {
  it('sends an access token as the bearer subprotocol, in preference to an API key', async () => {
    const client = newClient({ accessToken: 'sst.abc.def', apiKey: 'secret' });
    await client.connect();
    assert.deepEqual(FakeSocket.instances[0].protocols, ['bearer', 'sst.abc.def']);
  });

  it('sends no credential subprotocols without a key or token', async () => {
    const client = newClient({ accessToken: '' });
    await client.connect();
    assert.deepEqual(FakeSocket.instances[0].protocols, []);
  });

  it('asks an accessToken function again before every connection attempt, reconnects included', async () => {
    let calls = 0;
    const client = newClient({
      accessToken: async () => {
        calls += 1;
        await new Promise((resolve) => setTimeout(resolve, 1));
        return calls === 2 ? { access_token: 'sst.second', expires_in: 30 } : `sst.token-${calls}`;
      },
    });
    await client.connect();
    assert.deepEqual(FakeSocket.instances[0].protocols, ['bearer', 'sst.token-1']);
    FakeSocket.refuse = 1; // the first reconnect fails: one more token
    FakeSocket.instances[0].drop(1006);
    await until(() => client.state === 'live', 'reconnect');
    assert.equal(calls, 3);
    assert.deepEqual(
      FakeSocket.instances.map((s) => s.protocols[1]),
      ['sst.token-1', 'sst.second', 'sst.token-3'],
    );
  });

  it('fails the first connection with an access-token error when the function rejects or throws', async () => {
    const unhandled = [];
    const onUnhandled = (reason) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const backendDown = new Error('HTTP 503 from /stt-token');
      const rejecting = newClient({ accessToken: () => Promise.reject(backendDown), apiKey: 'secret' });
      await assert.rejects(rejecting.connect(), (error) => {
        assert.equal(error.name, 'StreamscribeError');
        assert.equal(error.kind, 'access-token');
        assert.equal(error.fatal, true);
        assert.equal(error.cause, backendDown);
        assert.match(error.message, /Could not get an access token: HTTP 503 from \/stt-token/);
        return true;
      });
      assert.equal(FakeSocket.instances.length, 0);
      const throwing = newClient({
        accessToken: () => {
          throw new TypeError('no session');
        },
      });
      await assert.rejects(throwing.connect(), { kind: 'access-token', message: /no session/ });
      const empty = newClient({ accessToken: async () => undefined });
      await assert.rejects(empty.connect(), { kind: 'access-token', message: /returned undefined, not a token/ });
      const hanging = newClient({ accessToken: () => new Promise(() => {}), connectTimeoutMs: 20 });
      await assert.rejects(hanging.connect(), { kind: 'access-token', message: /no answer within 20 ms/ });
      assert.equal(FakeSocket.instances.length, 0);
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    assert.deepEqual(unhandled, []);
  });

  it('counts a token failure on a reconnect as a failed attempt and retries', async () => {
    let calls = 0;
    const client = newClient({
      accessToken: () => {
        calls += 1;
        if (calls === 2) throw new Error('backend unreachable');
        return `sst.token-${calls}`;
      },
    });
    const reconnecting = [];
    const errors = [];
    client.on('reconnecting', (e) => reconnecting.push(e));
    client.on('error', (e) => errors.push(e));
    await client.connect();
    FakeSocket.instances[0].drop(1006);
    await until(() => client.state === 'live' && FakeSocket.instances.length === 2, 'reconnect');
    assert.deepEqual(
      reconnecting.map((e) => [e.attempt, e.code]),
      [[1, 1006], [2, 0]],
    );
    assert.match(reconnecting[1].reason, /Could not get an access token: backend unreachable/);
    assert.deepEqual(FakeSocket.instances[1].protocols, ['bearer', 'sst.token-3']);
    assert.deepEqual(errors, []);
  });

  it('gives up after maxAttempts when no token comes', async () => {
    let calls = 0;
    const client = newClient({
      reconnect: { maxAttempts: 2, initialDelayMs: 2, maxDelayMs: 10 },
      accessToken: async () => {
        calls += 1;
        if (calls > 1) throw new Error('session expired');
        return 'sst.first';
      },
    });
    const errors = [];
    client.on('error', (e) => errors.push(e));
    await client.connect();
    FakeSocket.instances[0].drop(1006);
    await until(() => client.state === 'closed', 'giving up');
    assert.equal(FakeSocket.instances.length, 1);
    assert.deepEqual(errors.map((e) => [e.kind, e.fatal]), [['connect', true]]);
    assert.match(errors[0].message, /Gave up reconnecting after 2 attempts: Could not get an access token: session expired/);
  });

  it('opens no socket when stopped while the token is on its way', async () => {
    /** @type {(token: string) => void} */
    let answer = () => {};
    const client = newClient({ accessToken: () => new Promise((resolve) => (answer = resolve)) });
    const connecting = client.connect();
    await new Promise((resolve) => setTimeout(resolve, 2));
    const stopping = client.stop();
    await assert.rejects(connecting, { kind: 'aborted' });
    await stopping;
    answer('sst.late');
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(FakeSocket.instances.length, 0);
    assert.equal(client.state, 'closed');
  });

  it('refuses an accessToken that is neither a string nor a function', () => {
    assert.throws(() => new StreamscribeClient({ accessToken: /** @type {any} */ (42) }), {
      name: 'TypeError',
      message: /accessToken must be a string or a function/,
    });
  });

  it('names the access token when the first connection is refused', async () => {
    const client = newClient({ accessToken: 'sst.expired' });
    FakeSocket.refuse = 1;
    await assert.rejects(client.connect(), (error) => error.kind === 'connect' && /access token/.test(error.message));
  });
});

describe('Transcript', () => {
  const transcript = new Transcript();
  transcript.add({ transcript: '  ', start: 0, end: 1 });
  transcript.add({
    transcript: 'And so my fellow Americans,',
    start: 0.5,
    end: 2.5,
    words: [
      { punctuatedWord: 'And', start: 0.5, end: 0.7 },
      { punctuatedWord: 'so', start: 0.7, end: 0.9 },
      { punctuatedWord: 'my', start: 0.9, end: 1.1 },
      { punctuatedWord: 'fellow', start: 1.1, end: 1.5 },
      { punctuatedWord: 'Americans,', start: 1.5, end: 2.4 },
    ],
  });
  transcript.add({ transcript: 'ask not.', start: 3661.25, end: 3662 });

  it('formats timestamps', () => {
    assert.equal(timestamp(3661.2505, ','), '01:01:01,251');
    assert.equal(timestamp(0.0004, '.'), '00:00:00.000');
  });

  it('exports text, one final per line, without empty finals', () => {
    assert.equal(transcript.toText(), 'And so my fellow Americans,\nask not.\n');
  });

  it('exports SRT', () => {
    assert.equal(
      transcript.toSrt(),
      '1\n00:00:00,500 --> 00:00:02,400\nAnd so my fellow Americans,\n\n2\n01:01:01,250 --> 01:01:02,000\nask not.\n',
    );
  });

  it('exports WebVTT', () => {
    assert.equal(
      transcript.toVtt(),
      'WEBVTT\n\n00:00:00.500 --> 00:00:02.400\nAnd so my fellow Americans,\n\n01:01:01.250 --> 01:01:02.000\nask not.\n',
    );
  });

  it('splits long finals into short cues of at most two lines', () => {
    const long = new Transcript({ maxCueChars: 30, maxCueSeconds: 100 });
    const words = 'one two three four five six seven eight nine ten eleven twelve'.split(' ');
    long.add({
      transcript: words.join(' '),
      start: 0,
      end: 12,
      words: words.map((w, i) => ({ punctuatedWord: w, start: i, end: i + 0.9 })),
    });
    const cues = long.cues();
    assert.ok(cues.length >= 3);
    assert.equal(cues.map((c) => c.text).join(' '), words.join(' '));
    for (const cue of cues) assert.ok(cue.text.length <= 30);
    for (let i = 1; i < cues.length; i++) assert.ok(cues[i].start >= cues[i - 1].end);
  });
});
