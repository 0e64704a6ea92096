// Vite builds the UI into webui/dist, which the aiohttp gateway serves at `/`, and the API's
// documentation page (api-docs.html: Swagger UI) that it serves at `/api/docs`.
// `npm run dev` proxies the API to a gateway on :8080 (start it with `make run`).
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Swagger UI's bundle is ~1.7 MB; it loads only on /api/docs.
    chunkSizeWarningLimit: 2048,
    rollupOptions: {
      // Paths relative to this folder (Vite's root).
      input: { main: "index.html", apidocs: "api-docs.html" },
    },
  },
  server: { proxy: { "/api": "http://127.0.0.1:8080" } },
});
