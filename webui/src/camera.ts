// The door's QR reader: the camera's video decoded by ZXing (`@zxing/browser`, the maintained
// TypeScript port of the ZXing decoder: no WebAssembly or worker to serve, so nothing for
// the Content-Security-Policy to open). This module is loaded on the first "Scan with
// camera" only (a dynamic import): no other page downloads the decoder.
import { BrowserQRCodeReader } from "@zxing/browser";
import { ChecksumException, FormatException, NotFoundException } from "@zxing/library";

/** A running scan. */
export interface Scanning {
  /** Ends the scan and releases the camera (its light goes off). Safe to call twice. */
  stop(): void;
}

/** Reads between frames: four reads a second find a held-up ticket at once and leave a
 *  phone's processor mostly idle. */
const READ_EVERY_MS = 250;

/** Reads QR codes from the camera `stream`, shown in `video`: `onCode` hears each text read,
 *  several times a second while a code is in view; `onStopped` is called once if the scan
 *  ends by itself (the camera's track ended, or the decoder failed). Resolves once the video
 *  plays; rejects (and releases the camera) if it does not. */
export async function scanQrCodes(stream: MediaStream, video: HTMLVideoElement,
  onCode: (text: string) => void, onStopped: () => void): Promise<Scanning> {
  const release = () => stream.getTracks().forEach((track) => track.stop());
  const reader = new BrowserQRCodeReader(undefined, {
    delayBetweenScanAttempts: READ_EVERY_MS, delayBetweenScanSuccess: READ_EVERY_MS,
  });
  let controls: { stop(): void } | null = null;
  let stopped = false;
  const stopBy = (itself: boolean) => {
    if (stopped) return;
    stopped = true;
    controls?.stop();
    release();
    if (itself) onStopped();
  };
  try {
    controls = await reader.decodeFromStream(stream, video, (result, error) => {
      if (result) onCode(result.getText());
      // Not found, a misread checksum or format: the next frame may do. Anything else ended
      // ZXing's loop, and the door must not think it still scans.
      else if (error && !(error instanceof NotFoundException || error instanceof ChecksumException
        || error instanceof FormatException)) stopBy(true);
    });
  } catch (e) {
    release();
    throw e;
  }
  for (const track of stream.getVideoTracks()) track.addEventListener("ended", () => stopBy(true));
  return { stop: () => stopBy(false) };
}
