// streamscribe browser client: live captions from a microphone or any
// MediaStream over streamscribe's Deepgram-compatible WS /v1/listen.
//
//   import { StreamscribeClient } from 'https://YOUR-SERVER/client/streamscribe.js';
//   const client = new StreamscribeClient({ apiKey: 'KEY' });
//   // or, so that the page holds no key: a token from your backend (POST /v1/auth/grant)
//   // const client = new StreamscribeClient({ accessToken: () => fetch('/stt-token').then((r) => r.text()) });
//   client.on('interim', (r) => show(r.transcript));
//   client.on('final', (r) => commit(r.transcript, r.start, r.end));
//   await client.start();          // microphone; or client.start(someMediaStream)
//   ...
//   await client.stop();           // flushes: the last finals arrive before it resolves
//
// No dependencies. Audio goes through an AudioWorklet (pcm-worklet.js), which
// resamples to 16 kHz and converts to int16 (pcm.js), in frames of 20-100 ms.
// When the connection drops the client reconnects with backoff; audio captured
// meanwhile, and audio sent but not yet covered by a final result, is kept and
// sent again, and result times stay on one clock that starts at start().
//
// This is the entry point; the code is in the modules next to it:
//   client.js      StreamscribeClient: start/stop, connection, reconnect, resend
//   replay.js      ReplayBuffer: the audio kept for resending after a reconnect
//   capture.js     microphone or MediaStream capture through the AudioWorklet
//   protocol.js    the /v1/listen URL and parameters, server messages as events
//   auth.js        the credential subprotocols: an API key or an access token
//   options.js     the options' defaults
//   emitter.js     on/off/emit
//   errors.js      StreamscribeError, close codes, microphone errors
//   transcript.js  Transcript: text, SRT and WebVTT export

export { StreamscribeClient } from './client.js';
export { StreamscribeError } from './errors.js';
export { listenUrl } from './protocol.js';
export { Transcript, timestamp } from './transcript.js';
