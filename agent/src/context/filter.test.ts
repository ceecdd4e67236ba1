import { describe, expect, it } from 'vitest';
import type { AppContext } from '../capture/events.ts';
import { judgeContext, type AppScope } from './filter.ts';

const screen = { width: 1920, height: 1080 };
const at = (windowClass: string | null, windowTitle: string | null = 'a window'): AppContext => ({ windowClass, windowTitle, screen });

const everything: AppScope = { allow: [], deny: [{ match: 'thunderbird', label: 'mail' }] };
const allowsVault: AppScope = {
  allow: [
    { match: 'xterm', label: 'terminal' },
    { match: 'code', label: 'editor' },
    { match: 'firefox', label: 'browser' },
    { match: 'KeePassXC', label: 'vault' },
    { match: 'Slack', label: 'chat' },
  ],
  deny: [{ match: 'Blender', label: 'modelling' }],
};

describe('the context filter', () => {
  it.each([
    ['an allowlisted terminal', at('xterm', 'bash — ~/src'), allowsVault, { capture: true, label: 'terminal' }],
    ['an allowlisted app in another case', at('Code', 'main.ts — Visual Studio Code'), allowsVault, { capture: true, label: 'editor' }],
    ['any app when the study has no allowlist', at('libreoffice-writer', 'notes.odt'), everything, { capture: true, label: null }],
    ['a browser window whose title merely mentions privacy', at('firefox', 'Privacy policy — Mozilla Firefox'), allowsVault, { capture: true, label: 'browser' }],
    ['a class that only contains a password manager name', at('keepassxc-notes-viewer'), everything, { capture: true, label: null }],
  ])('keeps %s', (_, context, scope, verdict) => {
    expect(judgeContext(context, scope)).toEqual(verdict);
  });

  it.each([
    ['an unresolved application, never guessed', at(null, null), everything, 'unresolved'],
    ['a password manager, even when the study allows it', at('KeePassXC', 'Passwords.kdbx - KeePassXC'), allowsVault, 'password-manager'],
    ['a password manager in lower case', at('keepassxc'), everything, 'password-manager'],
    ['1Password', at('1Password'), everything, 'password-manager'],
    ['Bitwarden', at('Bitwarden'), everything, 'password-manager'],
    ['a messaging app, even when the study allows it', at('Slack', 'general — Slack'), allowsVault, 'messaging'],
    ['Signal', at('Signal'), everything, 'messaging'],
    ['Telegram', at('TelegramDesktop'), everything, 'messaging'],
    ['a Firefox private window', at('firefox', 'Mozilla Firefox Private Browsing'), allowsVault, 'private-browsing'],
    ['a private window with a page open', at('firefox', 'Bank — Mozilla Firefox Private Browsing'), allowsVault, 'private-browsing'],
    ['a Chromium incognito window', at('Chromium-browser', 'New Tab - Chromium (Incognito)'), everything, 'private-browsing'],
    ['a lock screen', at('i3lock', null), everything, 'lock-screen'],
    ['xscreensaver', at('XScreenSaver'), everything, 'lock-screen'],
    ['an ssh passphrase prompt', at('ssh-askpass', 'OpenSSH'), everything, 'password-prompt'],
    ['pinentry', at('Pinentry-gtk-2', 'Passphrase'), everything, 'password-prompt'],
    ['a polkit prompt', at('Polkit-gnome-authentication-agent-1'), everything, 'password-prompt'],
    ['a terminal running sudo', at('xterm', 'sudo apt upgrade'), allowsVault, 'password-prompt'],
    ['a terminal in an ssh session', at('xterm', 'ssh build-server'), allowsVault, 'password-prompt'],
    ['a browser showing a password page', at('firefox', 'Change your password — Mozilla Firefox'), allowsVault, 'password-prompt'],
    ['an app the study denies', at('Blender', 'untitled.blend'), allowsVault, 'denied'],
    ['an app the study denies, whatever its case', at('BLENDER'), allowsVault, 'denied'],
    ['an app outside the allowlist', at('gimp', 'photo.xcf'), allowsVault, 'not-allowed'],
    ['an allowlisted name as a prefix of another class', at('xterm-256color'), allowsVault, 'not-allowed'],
  ])('drops %s', (_, context, scope, why) => {
    expect(judgeContext(context, scope)).toEqual({ capture: false, why });
  });
});
