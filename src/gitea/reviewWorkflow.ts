/**
 * The review workflow `damascus setup` writes into a repository. Damascus dispatches it on the default branch
 * (POST …/actions/workflows/damascus-review.yml/dispatches, ref = the default branch) with the PR head as an
 * input, so the workflow that reviews a PR is never one the PR itself could have changed. Its one step is
 * Damascus's own Action, pinned to a full commit SHA on the Gitea itself: it fetches the head, runs the test
 * command and posts a signed result back. Nothing comes from the internet (no actions/checkout).
 *
 * Every input reaches the Action through `with:` (an environment variable for the Action), never through a
 * `run:` script, so a test command or SHA can never be spliced into a shell line.
 */

export const REVIEW_WORKFLOW_FILE = 'damascus-review.yml';

export interface ReviewWorkflowOptions {
  /** Full URL of the Action's repository, e.g. https://gitea.example.com/damascus-bot/damascus-action.
   *  act_runner clones it without a token, so it must be readable anonymously. */
  actionUrl: string;
  /** A full 40-hex commit SHA (what setup publishes), or a tag for an Action published by hand (act rejects short SHAs). */
  actionRef: string;
  /** The runner label the job asks for (`runs-on`). */
  runsOn: string;
}

const ACTION_URL_SHAPE = /^https?:\/\/[A-Za-z0-9.-]+(:\d+)?(\/[A-Za-z0-9._~-]+)+$/;
const ACTION_REF_SHAPE = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const LABEL_SHAPE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The problem with a runner label, or null when it can stand in `runs-on`. */
export function runnerLabelProblem(label: string): string | null {
  return LABEL_SHAPE.test(label) ? null : `runsOn must be a runner label: letters, digits, ".", "_" and "-" (got ${JSON.stringify(label)})`;
}

/**
 * The title Gitea gives a dispatched review run (`run-name`): it names the item and the dispatch's nonce, so a
 * dispatch whose answer was lost can be found among the runs instead of being sent twice.
 */
export function reviewRunTitle(itemId: number, nonce: string): string {
  return `damascus review of item ${itemId} (dispatch ${nonce})`;
}

/** The YAML text of the review workflow. Throws on a URL, ref or label that is not plain. */
export function renderReviewWorkflow(opts: ReviewWorkflowOptions): string {
  const actionUrl = opts.actionUrl.replace(/\/+$/, '');
  if (!ACTION_URL_SHAPE.test(actionUrl)) {
    throw new Error(`actionUrl must be an http(s) URL of the Action's repository without credentials, query or "@" (got ${JSON.stringify(opts.actionUrl)})`);
  }
  if (!ACTION_REF_SHAPE.test(opts.actionRef) || opts.actionRef.includes('..')) {
    throw new Error(`actionRef must be a tag or a full commit SHA (got ${JSON.stringify(opts.actionRef)})`);
  }
  const labelProblem = runnerLabelProblem(opts.runsOn);
  if (labelProblem) throw new Error(labelProblem);
  return `# Written by \`damascus setup\`. Damascus dispatches this workflow on the default branch to review a pull
# request head: its Action fetches that commit, re-runs the test command and posts a signed result back.
# Inputs reach the Action only through \`with:\`, never through a shell script.
name: damascus-review
# The title names the item and the dispatch's nonce (reviewRunTitle says the same).
run-name: "damascus review of item \${{ inputs.work-item }} (dispatch \${{ inputs.dispatch }})"

on:
  workflow_dispatch:
    inputs:
      work-item:
        description: Damascus work item id
        required: true
        type: string
      head-sha:
        description: Full SHA of the pull request head to test
        required: true
        type: string
      pull-request:
        description: Number of the pull request (its head ref is fetched when the SHA alone cannot be)
        required: false
        type: string
        default: ""
      test-command:
        description: Test command, run with bash in the checked-out head
        required: true
        type: string
      orchestrator-url:
        description: Base URL of the Damascus server that receives the result
        required: true
        type: string
      timeout-minutes:
        description: Minutes before the test command is killed
        required: false
        type: string
        default: "30"
      dispatch:
        description: Damascus's nonce for this dispatch (in the run's title)
        required: false
        type: string
        default: ""

# The job token's least permissions. Gitea 1.26 honours this block (clamped by the repository's and owner's
# maximum) and starts from the repository's default for every scope not named, so each one is named. Fetching
# the head reads the code; the damascus/review commit status needs code write. The Action keeps this token from
# the test command.
permissions:
  contents: write
  releases: none
  issues: none
  pull-requests: none
  packages: none
  actions: none
  wiki: none
  projects: none

jobs:
  review:
    runs-on: ${opts.runsOn}
    steps:
      - name: Check out the head, run the tests and report to Damascus
        # Pinned by commit. The runner clones step actions without a token, so this repository is public.
        uses: ${actionUrl}@${opts.actionRef}
        with:
          head-sha: \${{ inputs.head-sha }}
          pull-request: \${{ inputs.pull-request }}
          test-command: \${{ inputs.test-command }}
          work-item: \${{ inputs.work-item }}
          orchestrator-url: \${{ inputs.orchestrator-url }}
          timeout-minutes: \${{ inputs.timeout-minutes }}
          dispatch: \${{ inputs.dispatch }}
          token: \${{ secrets.DAMASCUS_CALLBACK_TOKEN }}
`;
}
