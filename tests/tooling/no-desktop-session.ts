/**
 * Tests never reach the desktop session of whoever runs them: with a session bus, the agent
 * would keep its master keys in that person's own keyring, one item per temporary data dir, and
 * a locked keyring would prompt. Children inherit this environment; the keychain tests start a
 * keyring of their own (tests/support/secret-service.ts) and pass its bus explicitly.
 */
delete process.env['DBUS_SESSION_BUS_ADDRESS'];
