/**
 * The one window factory of the tray app (SECURITY.md, "Desktop"). Every window is created
 * here, with the same locked-down preferences; nothing else in the app calls
 * `new BrowserWindow`. Navigation, `window.open` and permission requests are refused.
 */
import { BrowserWindow, session, type BrowserWindowConstructorOptions, type WebPreferences } from 'electron';

/** The preferences every window gets; a test reads them from each window the app creates. */
export const SECURE_WEB_PREFERENCES = {
  contextIsolation: true,
  sandbox: true,
  webSecurity: true,
  nodeIntegration: false,
  nodeIntegrationInWorker: false,
  nodeIntegrationInSubFrames: false,
  webviewTag: false,
  allowRunningInsecureContent: false,
  experimentalFeatures: false,
  navigateOnDragDrop: false,
  spellcheck: false,
} as const satisfies WebPreferences;

export type WindowOptions = Omit<BrowserWindowConstructorOptions, 'webPreferences'> & { preload: string };

/** Refuses every permission request (camera, notifications, clipboard…) for the default session. */
export function denyAllPermissions(): void {
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => {
    callback(false);
  });
  session.defaultSession.setPermissionCheckHandler(() => false);
}

export function createSecureWindow({ preload, ...options }: WindowOptions): BrowserWindow {
  const window = new BrowserWindow({ ...options, webPreferences: { ...SECURE_WEB_PREFERENCES, preload } });
  window.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  window.webContents.on('will-navigate', (event) => {
    event.preventDefault();
  });
  window.webContents.on('will-attach-webview', (event) => {
    event.preventDefault();
  });
  return window;
}
