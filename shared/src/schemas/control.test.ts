import { describe, expect, it } from 'vitest';
import { parseUnknown } from '../validation.ts';
import { CONTROL_METHODS, ControlRequest, ControlResponse, DurationText } from './control.ts';

describe('control API messages', () => {
  it('accept a well-formed request and response', () => {
    expect(parseUnknown(ControlRequest, { id: 1, method: 'pause', params: { for: '20m' } }).method).toBe('pause');
    expect(parseUnknown(ControlResponse, { id: 1, ok: false, error: { code: 'no-consent', message: 'Enroll first.' } }).ok).toBe(false);
  });

  it.each([
    ['a request without an id', { method: 'status' }],
    ['a negative id', { id: -1, method: 'status' }],
    ['an empty method', { id: 1, method: '' }],
    ['an extra field', { id: 1, method: 'status', sudo: true }],
  ])('reject %s', (_, request) => {
    expect(() => parseUnknown(ControlRequest, request)).toThrow(/invalid/);
  });

  it('reject params that do not match the method', () => {
    expect(() => parseUnknown(CONTROL_METHODS.pause.params, { for: 'a while' })).toThrow(/for/);
    expect(() => parseUnknown(CONTROL_METHODS.enroll.params, { studyId: '../../etc' })).toThrow(/studyId/);
    expect(() => parseUnknown(CONTROL_METHODS.status.params, { verbose: true })).toThrow(/invalid/);
  });

  it.each(['45m', '2h', '90s', '1h30m'])('accept the duration %s', (text) => {
    expect(parseUnknown(DurationText, text)).toBe(text);
  });

  it.each(['', '45', 'm', '1d', '-5m', '30m1h'])('reject the duration %j', (text) => {
    expect(() => parseUnknown(DurationText, text)).toThrow(/duration/);
  });
});
