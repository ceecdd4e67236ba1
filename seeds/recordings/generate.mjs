// Writes the synthetic recordings beside this file: node seeds/recordings/generate.mjs
// A person coding, writing and browsing, synthetic but plausible in timing: log-normal gaps
// between keys (faster inside words, slower at word and line ends), held keys, typos fixed with
// Backspace, thinking pauses, pointer paths with easing, wheel bursts and application switches.
// Seeded, so the files are reproducible; nothing here was typed by a person.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// uiohook keycodes (US layout): the same numbers the live hook reports.
const KEY = {
  a: 30, b: 48, c: 46, d: 32, e: 18, f: 33, g: 34, h: 35, i: 23, j: 36, k: 37, l: 38, m: 50,
  n: 49, o: 24, p: 25, q: 16, r: 19, s: 31, t: 20, u: 22, v: 47, w: 17, x: 45, y: 21, z: 44,
  1: 2, 2: 3, 3: 4, 4: 5, 5: 6, 6: 7, 7: 8, 8: 9, 9: 10, 0: 11,
  ' ': 57, '\n': 28, '\t': 15, '-': 12, '=': 13, '[': 26, ']': 27, '\\': 43, ';': 39, "'": 40, '`': 41, ',': 51, '.': 52, '/': 53,
};
const SHIFTED = { '!': '1', '@': '2', '#': '3', $: '4', '%': '5', '^': '6', '&': '7', '*': '8', '(': '9', ')': '0', _: '-', '+': '=', '{': '[', '}': ']', '|': '\\', ':': ';', '"': "'", '~': '`', '<': ',', '>': '.', '?': '/' };
const BACKSPACE = 14, SHIFT = 42, CTRL = 29, ALT = 56, TAB = 15;

function rng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function recorder(name, seed) {
  const random = rng(seed);
  const lines = [{ recording: 'candor/1', name, screen: { width: 1920, height: 1080 } }];
  let at = 0;
  let pointer = { x: 960, y: 540 };
  const logNormal = (median, spread) => Math.round(median * Math.exp(spread * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())));
  const wait = (ms) => { at += Math.max(1, ms); };
  const emit = (line) => lines.push({ at, ...line });
  const press = (keycode, mods = []) => {
    emit({ kind: 'key-down', keycode, mods });
    wait(logNormal(85, 0.3));
    emit({ kind: 'key-up', keycode, mods });
  };
  const typeChar = (char) => {
    const upper = char >= 'A' && char <= 'Z';
    const base = upper ? char.toLowerCase() : SHIFTED[char] ?? char;
    const keycode = KEY[base];
    if (keycode === undefined) return;
    const shifted = upper || char in SHIFTED;
    if (shifted) { emit({ kind: 'key-down', keycode: SHIFT, mods: [] }); wait(logNormal(60, 0.3)); }
    press(keycode, shifted ? ['shift'] : []);
    if (shifted) { wait(logNormal(30, 0.4)); emit({ kind: 'key-up', keycode: SHIFT, mods: [] }); }
  };
  return {
    lines,
    random,
    context(windowClass, windowTitle) { wait(logNormal(300, 0.4)); emit({ kind: 'context', windowClass, windowTitle }); },
    type(text, { wpm = 60, typoRate = 0.03 } = {}) {
      const median = 60000 / (wpm * 5);
      for (const char of text) {
        if (/[a-z]/.test(char) && random() < typoRate) {
          typeChar('qwertyuiopasdfghjklzxcvbnm'[Math.floor(random() * 26)]);
          wait(logNormal(median * 2.5, 0.5));
          press(BACKSPACE);
          wait(logNormal(median, 0.4));
        }
        typeChar(char);
        wait(logNormal(char === ' ' ? median * 1.4 : char === '\n' ? median * 4 : median, 0.45));
        if (char === '\n' && random() < 0.3) wait(logNormal(2500, 0.6));
      }
    },
    shortcut(mods, keycode) {
      const modKeys = mods.map((mod) => ({ ctrl: CTRL, shift: SHIFT, alt: ALT })[mod]);
      for (const mod of modKeys) { emit({ kind: 'key-down', keycode: mod, mods: [] }); wait(logNormal(70, 0.3)); }
      press(keycode, mods);
      for (const mod of modKeys.reverse()) { wait(logNormal(40, 0.3)); emit({ kind: 'key-up', keycode: mod, mods: [] }); }
      wait(logNormal(400, 0.4));
    },
    moveTo(x, y) {
      const from = pointer;
      const steps = 8 + Math.floor(random() * 12);
      for (let step = 1; step <= steps; step++) {
        const eased = 1 - (1 - step / steps) ** 3;
        wait(logNormal(12, 0.3));
        emit({ kind: 'mouse-move', x: Math.round(from.x + (x - from.x) * eased + (random() - 0.5) * 4), y: Math.round(from.y + (y - from.y) * eased + (random() - 0.5) * 4) });
      }
      pointer = { x, y };
    },
    click(button = 1) {
      wait(logNormal(150, 0.4));
      emit({ kind: 'mouse-down', ...pointer, button });
      wait(logNormal(90, 0.3));
      emit({ kind: 'mouse-up', ...pointer, button });
    },
    scroll(ticks) {
      for (let tick = 0; tick < Math.abs(ticks); tick++) { wait(logNormal(45, 0.5)); emit({ kind: 'wheel', rotation: Math.sign(ticks), direction: 'vertical' }); }
    },
    pause(ms) { wait(logNormal(ms, 0.3)); },
    keycodes: { TAB, BACKSPACE, s: KEY.s, c: KEY.c, v: KEY.v, p: KEY.p, r: KEY.r, t: KEY.t, l: KEY.l },
  };
}

function coding() {
  const r = recorder('coding', 1);
  r.context('code', 'session.ts — candor — Visual Studio Code');
  r.moveTo(640, 420); r.click();
  r.type('export function pauseSession(session: Session, until: number | null) {\n', { wpm: 55 });
  r.type("  if (session.state !== 'running') throw new Error('not running');\n", { wpm: 55 });
  r.type("  return { ...session, state: 'paused', until };\n}\n", { wpm: 60 });
  r.shortcut(['ctrl'], r.keycodes.s);
  r.shortcut(['alt'], r.keycodes.TAB);
  r.context('xterm', 'bash — ~/src/candor');
  r.type('npx vitest run agent/src/session\n', { wpm: 70 });
  r.pause(6000);
  r.type('git status\n', { wpm: 80 });
  r.pause(1500);
  r.type('git diff --stat\n', { wpm: 75 });
  r.pause(2500);
  r.shortcut(['alt'], r.keycodes.TAB);
  r.context('code', 'session.ts — candor — Visual Studio Code');
  r.shortcut(['ctrl', 'shift'], r.keycodes.p);
  r.type('format document\n', { wpm: 65 });
  r.moveTo(300, 700); r.click(); r.scroll(-6);
  r.type('// A pause lasts until resumed unless the participant chose a length.\n', { wpm: 50 });
  r.shortcut(['ctrl'], r.keycodes.s);
  r.context('firefox', 'Array.prototype.at() - JavaScript | MDN — Mozilla Firefox');
  r.moveTo(900, 500); r.scroll(8); r.pause(4000); r.scroll(5);
  r.context('code', 'session.ts — candor — Visual Studio Code');
  r.type('  const remaining = session.endsAt - now;\n', { wpm: 55 });
  r.shortcut(['ctrl'], r.keycodes.s);
  return r.lines;
}

function writing() {
  const r = recorder('writing', 2);
  r.context('libreoffice-writer', 'quarterly-notes.odt - LibreOffice Writer');
  r.moveTo(700, 300); r.click();
  r.type('Notes from the planning meeting\n\n', { wpm: 45 });
  r.type('We agreed to ship the consent screen before the pilot. The pilot runs for six weeks with volunteers only, ', { wpm: 48 });
  r.type('and anyone can pause or withdraw at any time without asking.\n', { wpm: 46 });
  r.pause(8000);
  r.type('Open questions: how long should a session last by default, and who reviews the redaction policy?\n', { wpm: 44, typoRate: 0.05 });
  r.shortcut(['ctrl'], r.keycodes.s);
  // A password manager comes to the front: the context filter drops everything here.
  r.context('KeePassXC', 'Passwords.kdbx - KeePassXC');
  r.moveTo(820, 460); r.click();
  r.type('correct horse battery staple\n', { wpm: 40 });
  r.context('libreoffice-writer', 'quarterly-notes.odt - LibreOffice Writer');
  r.moveTo(710, 640); r.click();
  r.type('Next steps: draft the participant FAQ and send it to the privacy reviewers.\n', { wpm: 47 });
  r.pause(5000);
  r.type('Deadline: end of the month.\n', { wpm: 50 });
  r.shortcut(['ctrl'], r.keycodes.s);
  return r.lines;
}

function browsing() {
  const r = recorder('browsing', 3);
  r.context('firefox', 'Mozilla Firefox');
  r.shortcut(['ctrl'], r.keycodes.l);
  r.type('differential privacy laplace mechanism\n', { wpm: 55 });
  r.pause(2000);
  r.moveTo(500, 380); r.click(); r.pause(3000);
  for (let page = 0; page < 4; page++) { r.scroll(6 + Math.floor(r.random() * 6)); r.pause(4000); }
  r.moveTo(120, 90); r.click();
  r.shortcut(['ctrl'], r.keycodes.t);
  r.type('wikipedia k-anonymity\n', { wpm: 60 });
  r.pause(2500);
  r.moveTo(620, 450); r.scroll(10); r.pause(6000); r.scroll(7);
  // A private window: on the built-in sensitive list, so nothing from it is kept.
  r.context('firefox', 'Mozilla Firefox Private Browsing');
  r.type('gift ideas\n', { wpm: 50 });
  r.scroll(5);
  r.context('firefox', 'k-anonymity - Wikipedia — Mozilla Firefox');
  r.moveTo(760, 520); r.click(); r.scroll(-4); r.pause(3000);
  return r.lines;
}

const here = dirname(fileURLToPath(import.meta.url));
for (const [name, lines] of [['coding', coding()], ['writing', writing()], ['browsing', browsing()]]) {
  writeFileSync(join(here, `${name}.jsonl`), lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
}
