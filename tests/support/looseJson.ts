/**
 * Parsed JSON that a test reads or edits at any depth (a recorded webhook payload, an agent's report) without
 * declaring its shape: the assertions are the check. Only tests use it; src/ types what it parses.
 */
// biome-ignore lint/suspicious/noExplicitAny: the one place tests opt out of typing parsed JSON
export type LooseJson = Record<string, any>;
