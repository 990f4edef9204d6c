// k6 load test of the live endpoint: every virtual user streams real speech
// to WS /v1/listen at real-time pace and measures what a caption user feels.
//
//   k6 run -e BASE_URL=ws://127.0.0.1:8000 -e FIXTURE=.cache/loadtest/speech loadtest/stream.js
//
// FIXTURE names a pair made by `python -m loadtest.fixtures`: FIXTURE.raw
// (16 kHz mono linear16) and FIXTURE.json (utterances with the stream time at
// which each one's speech ends). Environment:
//   BASE_URL   ws://host:port                       (default ws://127.0.0.1:8000)
//   STREAMS    concurrent streams (constant VUs)    (default 1)
//   STAGES     ramp instead, e.g. "30s:2,60s:4,30s:0" (duration:target,...)
//   ITERATIONS streams each VU plays, with STREAMS  (default 1)
//   INTERIM    true|false                           (default true)
//   CHUNK_MS   frame length, 20-100                 (default 100)
//   API_KEY    sent as the `token` subprotocol pair
//   P95_MS     threshold on end-of-turn p95          (default 1500)
//   SPREAD_S   each stream starts after a random 0..SPREAD_S s, so utterances of
//              different streams do not all end in the same instant   (default 8)
import { WebSocket } from 'k6/experimental/websockets';
import { setInterval, clearInterval, setTimeout, clearTimeout } from 'k6/timers';
import { Trend, Counter, Rate } from 'k6/metrics';
import { sleep } from 'k6';

const BASE_URL = __ENV.BASE_URL || 'ws://127.0.0.1:8000';
const FIXTURE = __ENV.FIXTURE || '.cache/loadtest/speech';
const CHUNK_MS = Number(__ENV.CHUNK_MS || 100);
const INTERIM = (__ENV.INTERIM || 'true') === 'true';
const STREAMS = Number(__ENV.STREAMS || 1);
const P95_MS = Number(__ENV.P95_MS || 1500);
const SPREAD_S = Number(__ENV.SPREAD_S || 8);

const audio = open(`${FIXTURE}.raw`, 'b');
const manifest = JSON.parse(open(`${FIXTURE}.json`));
const BYTES_PER_MS = 32; // 16 kHz x 2 bytes
const CHUNK_BYTES = CHUNK_MS * BYTES_PER_MS;
const CHUNKS = Math.ceil(audio.byteLength / CHUNK_BYTES);

const endOfTurn = new Trend('end_of_turn_ms', true);
const interimLag = new Trend('interim_lag_ms', true);
const firstInterim = new Trend('time_to_first_interim_ms', true);
const finals = new Counter('transcripts_final');
const interims = new Counter('transcripts_interim');
const streamErrors = new Rate('stream_errors');
const missedTurns = new Counter('missed_speech_final');

function scenario() {
  if (__ENV.STAGES) {
    const stages = __ENV.STAGES.split(',').map((s) => {
      const [duration, target] = s.split(':');
      return { duration, target: Number(target) };
    });
    return { executor: 'ramping-vus', startVUs: 0, stages, gracefulRampDown: '120s' };
  }
  return {
    executor: 'per-vu-iterations',
    vus: STREAMS,
    iterations: Number(__ENV.ITERATIONS || 1),
    maxDuration: '30m',
  };
}

export const options = {
  scenarios: { live: scenario() },
  thresholds: {
    end_of_turn_ms: [`p(95)<${P95_MS}`],
    stream_errors: ['rate<0.01'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'max', 'count'],
};

function query() {
  const params = [
    'encoding=linear16',
    'sample_rate=16000',
    `interim_results=${INTERIM}`,
    'vad_events=true',
    'utterance_end_ms=1000',
  ];
  return params.join('&');
}

export default function () {
  if (SPREAD_S > 0) sleep(Math.random() * SPREAD_S);
  const protocols = __ENV.API_KEY ? ['token', __ENV.API_KEY] : undefined;
  const ws = new WebSocket(`${BASE_URL}/v1/listen?${query()}`, protocols);
  ws.binaryType = 'arraybuffer';
  const sendTimes = [];
  const pendingTurns = manifest.utterances.map((u) => u.speech_end);
  const transcript = [];
  let started = 0;
  let sent = 0;
  let timer = null;
  let watchdog = null;
  let speechStartedAt = null;

  const sentAt = (streamSeconds) => {
    const index = Math.min(Math.floor((streamSeconds * 1000) / CHUNK_MS), sendTimes.length - 1);
    return sendTimes[Math.max(0, index)];
  };

  ws.onopen = () => {
    started = Date.now();
    // Real-time pace: chunk k goes out at started + k * CHUNK_MS, whatever the timer jitter.
    timer = setInterval(() => {
      const due = Math.min(CHUNKS, Math.floor((Date.now() - started) / CHUNK_MS) + 1);
      while (sent < due) {
        const begin = sent * CHUNK_BYTES;
        sendTimes.push(Date.now());
        ws.send(audio.slice(begin, Math.min(begin + CHUNK_BYTES, audio.byteLength)));
        sent += 1;
      }
      if (sent >= CHUNKS) {
        clearInterval(timer);
        ws.send(JSON.stringify({ type: 'CloseStream' }));
      }
    }, Math.max(5, CHUNK_MS / 4));
    watchdog = setTimeout(() => {
      streamErrors.add(1, { reason: 'timeout' });
      ws.close();
    }, (CHUNKS * CHUNK_MS) + 120000);
  };

  ws.onmessage = (event) => {
    const now = Date.now();
    const message = JSON.parse(event.data);
    if (message.type === 'SpeechStarted') {
      speechStartedAt = sentAt(message.timestamp);
    } else if (message.type === 'Results') {
      const alt = message.channel.alternatives[0];
      const end = message.start + message.duration;
      if (!message.is_final) {
        interims.add(1);
        interimLag.add(now - sentAt(end));
        if (speechStartedAt !== null) {
          firstInterim.add(now - speechStartedAt);
          speechStartedAt = null;
        }
        return;
      }
      finals.add(1);
      if (alt.transcript) transcript.push(alt.transcript);
      if (message.speech_final) {
        // The turn(s) whose speech ends inside this final's range.
        while (pendingTurns.length && pendingTurns[0] <= end + 0.05) {
          const turnEnd = pendingTurns.shift();
          if (turnEnd >= message.start - 0.1) endOfTurn.add(now - sentAt(turnEnd));
          else missedTurns.add(1);
        }
      }
    } else if (message.type === 'Metadata') {
      console.log(`TRANSCRIPT ${JSON.stringify({ vu: __VU, iter: __ITER, text: transcript.join(' ') })}`);
    }
  };

  ws.onclose = (event) => {
    clearInterval(timer);
    if (watchdog !== null) clearTimeout(watchdog);
    missedTurns.add(pendingTurns.length);
    const code = event && event.code !== undefined ? event.code : 1000;
    streamErrors.add(code !== 1000, { code: String(code) });
  };

  ws.onerror = (event) => {
    streamErrors.add(1, { reason: 'error' });
    console.error(`stream error: ${event && event.error}`);
  };
}
