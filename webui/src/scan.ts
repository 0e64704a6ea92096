// The door camera's rules, apart from the camera: which codes it reads are checked in, and
// what to tell the door when the camera cannot be had. Plain functions, so vitest runs them.

/** How long a code must be out of the camera's view before a sighting checks it again. A
 *  scanner reads a held-up ticket several times a second: those reads are one check-in. A
 *  ticket shown again later is checked again, so the door hears "already checked in" rather
 *  than keep showing the first answer to a ticket passed back to a friend. */
export const REPEAT_AFTER_MS = 2000;

/** Decides, read by read, which codes the camera saw should be sent to check in. */
export class ScanGate {
  private last: string | null = null;
  private lastSeen = -Infinity;

  constructor(private readonly repeatAfterMs = REPEAT_AFTER_MS) {}

  /** Whether `code`, read at `now` (ms), should be checked in now. Not while it is the code
   *  still in view (read within `repeatAfterMs` of its previous read); not while another
   *  check-in is `busy` either — but then it is not counted as seen, so the next read,
   *  a fraction of a second later, sends it. */
  admit(code: string, now: number, busy: boolean): boolean {
    if (code === this.last && now - this.lastSeen < this.repeatAfterMs) {
      this.lastSeen = now;
      return false;
    }
    if (busy) return false;
    this.last = code;
    this.lastSeen = now;
    return true;
  }
}

/** Said after every camera problem: the door works without one. */
const TYPE_INSTEAD = "Type the code instead.";

/** The door's words for a camera that could not be opened: `error` is what getUserMedia (or
 *  the scanner) rejected with, `null` when the browser offers no camera API here at all. */
export function cameraProblem(error: unknown): string {
  return `${cameraReason(error)} ${TYPE_INSTEAD}`;
}

function cameraReason(error: unknown): string {
  // Browsers offer the camera to secure pages only (https, or this machine itself).
  if (error === null) return "This browser offers no camera on this page: it needs an https address.";
  const name = error instanceof DOMException || error instanceof Error ? error.name : "";
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera access was refused. To scan, allow the camera for this site in the browser's settings.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera was found on this device.";
    case "NotReadableError":
    case "AbortError":
      return "The camera could not be started: another app may be using it.";
    default: {
      const detail = error instanceof Error && error.message ? `: ${error.message.replace(/\.$/, "")}` : "";
      return `The camera could not be used${detail}.`;
    }
  }
}

/** Said when the scanner's code (loaded on the first scan) could not be fetched. */
export const SCANNER_NOT_LOADED = `The scanner could not be loaded: check the connection. ${TYPE_INSTEAD}`;

/** Said when the camera stops by itself while scanning (unplugged, its permission taken
 *  back, or the scanner failed). */
export const CAMERA_STOPPED = `The camera stopped. Press "Scan with camera" to start it again. ${TYPE_INSTEAD}`;
