import { describe, expect, it } from 'vitest';
import { CandorError } from '@candor/shared/errors';
import { checkServerUrl } from './server-api.ts';

function refusal(text: string): string {
  try {
    checkServerUrl(text);
  } catch (error) {
    if (error instanceof CandorError) return error.code;
    throw error;
  }
  return 'accepted';
}

describe('checkServerUrl', () => {
  it.each([
    ['https://candor.example.org', 'https://candor.example.org'],
    ['https://candor.example.org:8443/some/path?x=1', 'https://candor.example.org:8443'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080'],
    ['http://localhost:8080/', 'http://localhost:8080'],
    ['http://[::1]:8080', 'http://[::1]:8080'],
    // The URL parser writes these forms of 127.0.0.1 as 127.0.0.1: still this machine.
    ['http://127.1:8080', 'http://127.0.0.1:8080'],
    ['http://2130706433:8080', 'http://127.0.0.1:8080'],
  ])('accepts %s as the origin %s', (text, origin) => {
    expect(checkServerUrl(text)).toBe(origin);
  });

  it.each([
    ['plain http to another host', 'http://candor.example.org', 'pair.insecure-url'],
    ['a host that starts like loopback', 'http://127.0.0.1.attacker.example', 'pair.insecure-url'],
    ['a host that starts like localhost', 'http://localhost.attacker.example', 'pair.insecure-url'],
    ['the unspecified address, which is not loopback everywhere', 'http://0.0.0.0:8080', 'pair.insecure-url'],
    ['another loopback-looking private address', 'http://10.0.0.1', 'pair.insecure-url'],
    ['credentials in the address', 'https://pat:secret@candor.example.org', 'pair.bad-url'],
    ['a user name alone', 'https://pat@candor.example.org', 'pair.bad-url'],
    ['another scheme', 'ftp://candor.example.org', 'pair.bad-url'],
    ['a host without a scheme', 'candor.example.org', 'pair.bad-url'],
    ['an empty address', '', 'pair.bad-url'],
  ])('refuses %s', (_, text, code) => {
    expect(refusal(text)).toBe(code);
  });

  it('never echoes a password it refuses', () => {
    let message = '';
    try {
      checkServerUrl('https://pat:hunter2-secret@candor.example.org');
    } catch (error) {
      message = error instanceof Error ? error.message : '';
    }
    expect(message).toMatch(/must not carry a user name or password/);
    expect(message).not.toContain('hunter2');
  });
});
