import "@mantine/core/styles.css";
import "./theme.css";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { MantineProvider, createTheme } from "@mantine/core";
import { BrowserRouter } from "react-router";
import { App } from "./App";
import { SessionProvider } from "./session";

// The darkest shade of each colour for filled buttons, badges and coloured text in the light
// scheme: white on Mantine's default (shade 6) blue, red or green is 2.4 to 3.6:1, below the
// 4.5:1 that WCAG AA asks of text.
// Animations off for people who ask their system for less motion.
const theme = createTheme({ primaryShade: { light: 9, dark: 8 }, respectReducedMotion: true });

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <MantineProvider theme={theme} defaultColorScheme="auto">
      <SessionProvider>
        <BrowserRouter>
          <App />
        </BrowserRouter>
      </SessionProvider>
    </MantineProvider>
  </StrictMode>,
);
