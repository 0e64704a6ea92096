// Vite builds the UI into webui/dist, which the aiohttp gateway serves at `/`.
// `npm run dev` proxies the API to a gateway on :8080 (start it with `make run`).
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1024 },
  server: { proxy: { "/api": "http://127.0.0.1:8080" } },
});
