// k6 load test of the file endpoints: concurrent uploads of a real-speech WAV
// to the OpenAI-style and the Deepgram-style endpoints.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8000 -e FIXTURE=$PWD/.cache/loadtest/speech loadtest/upload.js
//
// Environment: BASE_URL (http://host:port), FIXTURE (as for stream.js; the
// .wav is sent), UPLOADS (concurrent clients, default 2), ITERATIONS (uploads
// each, default 2), API_KEY, P95_MS (threshold on request time, default 30000).
import http from 'k6/http';
import { check } from 'k6';
import { Trend, Rate, Counter } from 'k6/metrics';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8000';
const FIXTURE = __ENV.FIXTURE || '.cache/loadtest/speech';
const wav = open(`${FIXTURE}.wav`, 'b');
const manifest = JSON.parse(open(`${FIXTURE}.json`));

const uploadSeconds = new Trend('upload_seconds');
const realtimeFactor = new Trend('upload_realtime_factor');
const uploadErrors = new Rate('upload_errors');
const audioSeconds = new Counter('audio_seconds_transcribed');

export const options = {
  scenarios: {
    uploads: {
      executor: 'per-vu-iterations',
      vus: Number(__ENV.UPLOADS || 2),
      iterations: Number(__ENV.ITERATIONS || 2),
      maxDuration: '30m',
    },
  },
  thresholds: {
    upload_errors: ['rate<0.01'],
    http_req_duration: [`p(95)<${Number(__ENV.P95_MS || 30000)}`],
  },
};

function headers() {
  return __ENV.API_KEY ? { Authorization: `Token ${__ENV.API_KEY}` } : {};
}

export default function () {
  const openai = __ITER % 2 === 0;
  let response;
  if (openai) {
    response = http.post(
      `${BASE_URL}/v1/audio/transcriptions`,
      { file: http.file(wav, 'speech.wav', 'audio/wav'), model: 'whisper-1', response_format: 'json' },
      { headers: headers(), timeout: '600s', tags: { endpoint: 'openai' } },
    );
  } else {
    response = http.post(`${BASE_URL}/v1/listen?punctuate=true`, wav, {
      headers: { ...headers(), 'Content-Type': 'audio/wav' },
      timeout: '600s',
      tags: { endpoint: 'deepgram' },
    });
  }
  const ok = check(response, {
    'status 200': (r) => r.status === 200,
    'has transcript': (r) => {
      const body = r.json();
      const text = openai ? body.text : body.results.channels[0].alternatives[0].transcript;
      return typeof text === 'string' && text.length > 0;
    },
  });
  uploadErrors.add(!ok);
  if (ok) {
    uploadSeconds.add(response.timings.duration / 1000);
    realtimeFactor.add(manifest.duration / (response.timings.duration / 1000));
    audioSeconds.add(manifest.duration);
  }
}
