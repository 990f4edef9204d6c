// Audio capture of the streamscribe browser client: the microphone, or any
// MediaStream with an audio track, through an AudioWorklet (pcm-worklet.js)
// that resamples to 16 kHz and converts to int16 in frames of 20-100 ms.

import { StreamscribeError, microphoneError } from './errors.js';

/**
 * @typedef {{type: 'frame', samples: Int16Array, rms: number, peak: number}} Frame
 *   a frame of 16 kHz mono int16 samples from the worklet, with its level (0-1)
 */

/** One capture at a time: start(), then flush() and close(); start() again after close(). */
export class AudioCapture {
  /** @param {(frame: Frame) => void} onFrame called for each frame of audio */
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.ownsStream = false;
    /** @type {MediaStream | undefined} */
    this.stream = undefined;
    /** @type {AudioContext | undefined} */
    this.context = undefined;
    /** @type {AudioWorkletNode | undefined} */
    this.node = undefined;
    /** @type {MediaStreamAudioSourceNode | undefined} */
    this.sourceNode = undefined;
    /** @type {((value?: unknown) => void) | null} */
    this.onFlushed = null;
  }

  /**
   * Capture from the microphone (no `source`) or from `source`. Resolves with
   * the device sample rate once audio flows; rejects with a StreamscribeError.
   * Stops nothing it did not open: call close() after a failure too.
   * @param {MediaStream | undefined} source
   * @param {{audio: MediaTrackConstraints, workletUrl: string, frameMs: number}} options
   * @returns {Promise<number>}
   */
  async start(source, { audio, workletUrl, frameMs }) {
    let stream = source;
    this.ownsStream = false;
    if (!stream) {
      if (!globalThis.navigator?.mediaDevices?.getUserMedia) {
        throw new StreamscribeError(
          'unsupported',
          'This page cannot use the microphone: browsers allow it only on https:// pages or localhost.',
          { fatal: true },
        );
      }
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio, video: false });
      } catch (error) {
        throw microphoneError(error);
      }
      this.ownsStream = true;
    }
    if (stream.getAudioTracks().length === 0) {
      throw new StreamscribeError('no-microphone', 'The media stream has no audio track.', { fatal: true });
    }
    this.stream = stream;
    const context = new AudioContext();
    this.context = context;
    try {
      await context.audioWorklet.addModule(workletUrl);
    } catch (error) {
      throw new StreamscribeError('audio', `Could not load the audio worklet from ${workletUrl}`, {
        fatal: true,
        cause: error,
      });
    }
    const node = new AudioWorkletNode(context, 'streamscribe-pcm', {
      numberOfInputs: 1,
      numberOfOutputs: 0,
      processorOptions: { frameMs },
    });
    node.port.onmessage = (event) => this.onWorkletMessage(event.data);
    this.node = node;
    this.sourceNode = context.createMediaStreamSource(stream);
    this.sourceNode.connect(node);
    if (context.state === 'suspended') await context.resume();
    return context.sampleRate;
  }

  /** @param {any} data */
  onWorkletMessage(data) {
    if (data?.type === 'frame') {
      this.onFrame(data);
    } else if (data?.type === 'flushed') {
      this.onFlushed?.();
    }
  }

  /** Have the worklet send the audio it still holds (500 ms at most). */
  async flush() {
    const node = this.node;
    if (!node) return;
    const flushed = new Promise((resolve) => {
      this.onFlushed = resolve;
    });
    node.port.postMessage({ type: 'flush' });
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    await Promise.race([flushed, new Promise((resolve) => (timer = setTimeout(resolve, 500)))]);
    clearTimeout(timer);
    this.onFlushed = null;
  }

  /** Stop capturing: disconnect, stop the microphone (not a stream passed to start()), close the AudioContext. */
  async close() {
    try {
      this.sourceNode?.disconnect();
      this.node?.port.postMessage({ type: 'stop' });
      this.node?.disconnect();
    } catch {
      // already disconnected
    }
    if (this.ownsStream) for (const track of this.stream?.getTracks() ?? []) track.stop();
    const context = this.context;
    this.sourceNode = this.node = this.context = this.stream = undefined;
    if (context && context.state !== 'closed') {
      try {
        await context.close();
      } catch {
        // closing twice
      }
    }
  }
}
