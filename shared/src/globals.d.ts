// The few globals that every runtime shared runs in (Node ≥ 20, Electron renderers,
// browsers) provides, declared here so that shared can use them without taking in the
// whole of Node's or the DOM's types (STYLE.md §2).
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: Uint8Array): string;
}
