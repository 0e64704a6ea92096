// "Scan with camera" on the door page: asks for the camera only when pressed, shows its
// video, and hands every QR code it reads to the page (which decides what to check in), until
// Stop. When there is no camera, or the person refused it, it says so plainly; the page's
// code field works either way.
import { useEffect, useRef, useState } from "react";
import { Alert, Button, Stack, Text } from "@mantine/core";
import type { Scanning } from "../camera";
import { CAMERA_STOPPED, SCANNER_NOT_LOADED, cameraProblem } from "../scan";

type Phase = "off" | "starting" | "on";

/** The rear camera on a phone (the one facing the ticket); any camera elsewhere. */
const CONSTRAINTS: MediaStreamConstraints = { video: { facingMode: { ideal: "environment" } }, audio: false };

export function CameraScanner({ onCode }: { onCode: (text: string) => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const scanning = useRef<Scanning | null>(null);
  // Which start is the current one: Stop, or leaving the page, while the camera is still
  // starting makes that start release it as soon as it arrives.
  const attempt = useRef(0);
  const [phase, setPhase] = useState<Phase>("off");
  const [problem, setProblem] = useState<string | null>(null);
  // The scanner keeps the callback it started with; this hands it the page's latest.
  const latest = useRef(onCode);
  useEffect(() => {
    latest.current = onCode;
  }, [onCode]);

  const end = () => {
    attempt.current += 1;
    scanning.current?.stop();
    scanning.current = null;
  };
  useEffect(() => end, []);

  const start = async () => {
    const mine = ++attempt.current;
    const current = () => mine === attempt.current;
    const fail = (message: string) => {
      if (!current()) return;
      setPhase("off");
      setProblem(message);
    };
    setProblem(null);
    const media = navigator.mediaDevices as MediaDevices | undefined;  // absent off https
    if (!media?.getUserMedia) return fail(cameraProblem(null));
    setPhase("starting");
    // Fetched while the browser asks the person about the camera.
    const loading = import("../camera");
    loading.catch(() => undefined);  // said below, once the camera is there
    let stream: MediaStream;
    try {
      stream = await media.getUserMedia(CONSTRAINTS);
    } catch (e) {
      return fail(cameraProblem(e));
    }
    const release = () => stream.getTracks().forEach((track) => track.stop());
    let scanner: typeof import("../camera");
    try {
      scanner = await loading;
    } catch {
      release();
      return fail(SCANNER_NOT_LOADED);
    }
    if (!current() || !video.current) return release();
    try {
      const running = await scanner.scanQrCodes(stream, video.current, (text) => latest.current(text),
        () => {
          if (!current()) return;
          scanning.current = null;
          fail(CAMERA_STOPPED);
        });
      if (!current()) return running.stop();
      scanning.current = running;
      setPhase("on");
    } catch (e) {
      fail(cameraProblem(e));
    }
  };

  return (
    <Stack gap="xs" align="flex-start">
      {phase === "off"
        ? <Button variant="light" size="md" onClick={() => void start()}>Scan with camera</Button>
        : <Button variant="light" color="gray" size="md" onClick={() => {
          end();
          setPhase("off");
        }}>Stop scanning</Button>}
      {problem && (
        <Alert color="orange" role="alert" data-testid="camera-problem" maw={560}>{problem}</Alert>
      )}
      <Text role="status" size="sm" c="dimmed">
        {phase === "starting" && "Starting the camera…"}
        {phase === "on" && "Scanning: hold the ticket's QR code up to the camera. Each ticket read is checked in."}
      </Text>
      {/* Kept in the page while off (hidden), so the scanner has its element to play into. */}
      <video ref={video} aria-label="Camera view" hidden={phase === "off"} muted playsInline
        className="door-camera" data-testid="door-camera" />
    </Stack>
  );
}
