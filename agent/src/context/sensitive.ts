/**
 * Candor's built-in sensitive list: contexts where nothing is ever captured, whatever a study
 * says. Matched against the foreground window's class (WM_CLASS, case-insensitive) and, for
 * private-browsing windows and password prompts that share a class with ordinary windows,
 * against the title. A title is read here and in redaction only; it never leaves either.
 */

export type SensitiveCategory = 'password-manager' | 'messaging' | 'private-browsing' | 'lock-screen' | 'password-prompt';

type SensitiveRule = { category: SensitiveCategory; classes?: RegExp; titles?: RegExp };

const RULES: readonly SensitiveRule[] = [
  {
    category: 'password-manager',
    classes: /^(keepassxc|keepass2?|1password|bitwarden|enpass|lastpass|nordpass|dashlane|proton ?pass|seahorse|kwalletmanager5?|gnome-keyring.*|pass(-| )?ui)$/i,
  },
  {
    category: 'messaging',
    classes: /^(slack|signal|signal-desktop|telegram(desktop|-desktop)?|discord|whatsapp.*|element|riot|teams(-for-linux)?|microsoft teams.*|skype|zoom|mattermost|wire|rocket\.chat|threema.*|thunderbird|evolution|geary|mailspring|hexchat|pidgin|fractal|nheko)$/i,
  },
  // Firefox marks private windows in the title; Chromium-based browsers in the title or class.
  { category: 'private-browsing', titles: /(private browsing|\(incognito\)|— incognito|inprivate)$/i, classes: /incognito/i },
  { category: 'lock-screen', classes: /^(i3lock|xscreensaver|gnome-screensaver|light-locker|xsecurelock|slock|xlock|kscreenlocker.*|swaylock|lightdm.*greeter.*)$/i },
  {
    category: 'password-prompt',
    classes: /^(ssh-askpass|gcr-prompter|pinentry.*|polkit-gnome-authentication-agent-1|polkit-kde-authentication-agent-1|lxpolkit|ksshaskpass|x11-ssh-askpass)$/i,
    // Terminals that show the running command in the title reveal sudo/ssh/passphrase prompts.
    titles: /(\bsudo\b|\bssh\b|\bsu\b|password|passphrase|passwort|mot de passe|contraseña)/i,
  },
];

export const BUILT_IN_SENSITIVE_DESCRIPTION =
  'password managers, messaging and mail apps, private-browsing windows, lock screens, and sudo/ssh/password prompts where they can be recognised';

/** The built-in category a window falls under, or null. */
export function sensitiveCategoryOf(windowClass: string, windowTitle: string | null): SensitiveCategory | null {
  for (const rule of RULES) {
    if (rule.classes?.test(windowClass) === true) return rule.category;
    if (windowTitle !== null && rule.titles?.test(windowTitle) === true) return rule.category;
  }
  return null;
}
