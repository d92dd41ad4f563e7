/**
 * The `damascus/<state>` labels mirrored on each issue (exactly one at a time). Pure: the relay
 * reads the labels, then adds/removes what labelPlan() says, creating missing labels from
 * labelCreateOption().
 */
import { STATES, type State } from '../domain/states.js';

export interface StateLabel {
  name: string;
  /** Hex without '#', as Gitea's Label.color reports it. */
  color: string;
  description: string;
}

const PREFIX = 'damascus/';

export const STATE_LABELS: Readonly<Record<State, StateLabel>> = {
  spec: { name: `${PREFIX}spec`, color: '1d76db', description: 'Damascus is writing the spec' },
  build: { name: `${PREFIX}build`, color: 'fbca04', description: 'Damascus is implementing the spec' },
  review: { name: `${PREFIX}review`, color: '5319e7', description: 'Damascus is re-running the tests on the pull request' },
  awaiting_human: { name: `${PREFIX}awaiting_human`, color: 'd93f0b', description: 'Damascus waits for an answer to a question' },
  blocked: { name: `${PREFIX}blocked`, color: 'b60205', description: 'Damascus stopped: needs a human, then /damascus retry' },
  done: { name: `${PREFIX}done`, color: '0e8a16', description: 'Damascus merged the pull request' },
  cancelled: { name: `${PREFIX}cancelled`, color: 'cccccc', description: 'Damascus stopped working on this issue' },
};

export function stateLabelName(state: State): string {
  return STATE_LABELS[state].name;
}

/**
 * Body for `POST /repos/{o}/{r}/labels` (swagger CreateLabelOption). `exclusive` makes Gitea treat
 * `damascus/` as a scope, so its UI also keeps one state label per issue.
 */
export function labelCreateOption(state: State): { name: string; color: string; description: string; exclusive: boolean } {
  const l = STATE_LABELS[state];
  return { name: l.name, color: `#${l.color}`, description: l.description, exclusive: true };
}

const STATE_LABEL_NAMES = new Map(STATES.map((s) => [STATE_LABELS[s].name.toLowerCase(), s]));

/** The state a label name stands for, or null when it is not a Damascus state label (case-insensitive). */
export function stateOfLabel(name: string): State | null {
  return STATE_LABEL_NAMES.get(name.trim().toLowerCase()) ?? null;
}

/** Every other Damascus state label on the issue, spelled as the issue has it. Other labels are left alone. */
export function labelsToRemove(currentLabelNames: readonly string[], state: State): string[] {
  return currentLabelNames.filter((n) => {
    const s = stateOfLabel(n);
    return s !== null && s !== state;
  });
}

/** What to change so that exactly the label for `state` remains among the Damascus state labels. */
export function labelPlan(currentLabelNames: readonly string[], state: State): { add: string | null; remove: string[] } {
  const has = currentLabelNames.some((n) => stateOfLabel(n) === state);
  return { add: has ? null : stateLabelName(state), remove: labelsToRemove(currentLabelNames, state) };
}
