// A ticket's code as a QR code (the `qrcode` library), drawn as an image the door's scanner
// reads; the code stays printed beneath it for a person to type.
import { useEffect, useState } from "react";
import QRCode from "qrcode";

export function QrCode({ text, size = 176 }: { text: string; size?: number }) {
  const [src, setSrc] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    // Medium error correction survives a crease or a cracked phone screen; a quiet zone of
    // 4 modules is what scanners expect.
    QRCode.toDataURL(text, { errorCorrectionLevel: "M", margin: 4, width: size })
      .then((url) => live && setSrc(url), () => live && setSrc(null));
    return () => {
      live = false;
    };
  }, [text, size]);
  if (!src) return <div style={{ width: size, height: size }} aria-hidden />;
  return <img src={src} width={size} height={size} alt={`QR code of ticket ${text}`}
    data-testid="ticket-qr" data-code={text} className="qr" />;
}
