/**
 * What a Gitea webhook (or the reconcile sweep, replaying one) tells Damascus, as plain data: the
 * payload is read into it by src/gitea/events.ts, and the intake decides on it (src/domain/intake.ts).
 */
export interface RepoRef {
  id: number;
  owner: string;
  name: string;
  fullName: string;
  defaultBranch: string;
  htmlUrl: string;
  cloneUrl: string;
}

export interface IssueRef {
  number: number;
  title: string;
  body: string;
  state: 'open' | 'closed';
  htmlUrl: string;
  isPull: boolean;
}

export interface SenderRef {
  id: number;
  login: string;
}

export interface CommentRef {
  id: number;
  body: string;
  user: SenderRef;
  createdAt: string;
}

export type GiteaEvent =
  | { kind: 'issue.labels'; repo: RepoRef; issue: IssueRef; labels: string[]; cleared: boolean; sender: SenderRef }
  | { kind: 'issue.closed' | 'issue.reopened' | 'issue.deleted'; repo: RepoRef; issue: IssueRef; sender: SenderRef }
  | { kind: 'issue.opened'; repo: RepoRef; issue: IssueRef; labels: string[]; sender: SenderRef }
  | {
      kind: 'comment';
      action: 'created' | 'edited';
      repo: RepoRef;
      issue: IssueRef;
      isPull: boolean;
      comment: CommentRef;
      sender: SenderRef;
    }
  | {
      kind: 'pr.closed';
      repo: RepoRef;
      number: number;
      merged: boolean;
      headSha: string;
      headRef: string;
      mergeCommitSha: string | null;
      sender: SenderRef;
    }
  | { kind: 'pr.synchronized'; repo: RepoRef; number: number; headSha: string; headRef: string; sender: SenderRef }
  | { kind: 'ignored'; reason: string }
  | { kind: 'invalid'; reason: string };

/** An event the intake acts on. */
export type ActionableEvent = Exclude<GiteaEvent, { kind: 'ignored' } | { kind: 'invalid' }>;

/** A pull-request event: it names the PR, not the issue. */
export const isPrEvent = (ev: ActionableEvent): ev is Extract<ActionableEvent, { kind: 'pr.closed' | 'pr.synchronized' }> =>
  ev.kind === 'pr.closed' || ev.kind === 'pr.synchronized';

/** Whether a label name is the trigger label (Gitea label names are matched trimmed and case-blind). */
export function isTriggerLabel(name: string, trigger: string): boolean {
  return name.trim().toLowerCase() === trigger.trim().toLowerCase();
}

/**
 * `label_updated` carries the full list, not which label changed (FACTS §c), so decide by comparing
 * with what Damascus knows: `known` = an active item exists for the issue. Label names compare
 * case-insensitively.
 */
export function triggerLabelChange(known: boolean, labels: string[], trigger: string): 'added' | 'removed' | 'none' {
  const present = labels.some((l) => isTriggerLabel(l, trigger));
  if (present && !known) return 'added';
  if (!present && known) return 'removed';
  return 'none';
}
