// Transcripts out of the page: TXT/SRT/VTT downloads and the clipboard.

/** @typedef {import('../client/streamscribe.js').Transcript} Transcript */

/** @param {string} name @param {string} text @param {string} type */
function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * Download `transcript` as `base.srt`, `base.vtt` or `base.txt`.
 * @param {Transcript} transcript
 * @param {string} format 'srt', 'vtt' or anything else for text
 * @param {string} base
 */
export function exportTranscript(transcript, format, base) {
  if (format === 'srt') download(`${base}.srt`, transcript.toSrt(), 'application/x-subrip');
  else if (format === 'vtt') download(`${base}.vtt`, transcript.toVtt(), 'text/vtt');
  else download(`${base}.txt`, transcript.toText(), 'text/plain');
}

/** A file name for the live captions: `captions-YYYY-MM-DD-HHMM`, local time. */
export function fileStamp(date = new Date()) {
  const p = (/** @type {number} */ n) => String(n).padStart(2, '0');
  const d = date;
  return `captions-${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}`;
}

/**
 * Copy `text` to the clipboard (with the old execCommand where the Clipboard API is refused).
 * @param {string} text
 * @returns {Promise<boolean>} whether it was copied
 */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}
