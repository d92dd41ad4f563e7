/**
 * The review workflow `damascus setup` writes into a repository. Damascus dispatches it
 * (POST …/actions/workflows/damascus-review.yml/dispatches) with string inputs; it checks out the
 * PR head and runs the review Action, which posts a signed result back to the orchestrator.
 *
 * Every input reaches the Action through `with:` (an environment variable for the Action), never
 * through a `run:` script, so a test command or SHA can never be spliced into a shell line.
 */

export const REVIEW_WORKFLOW_FILE = 'damascus-review.yml';

export interface ReviewWorkflowOptions {
  /** Full URL of the Action's repository, e.g. https://gitea.example.com/damascus/review-action.
   *  act_runner clones it without a token, so it must be readable anonymously. */
  actionUrl: string;
  /** A tag or a full 40-hex commit SHA (act rejects short SHAs). */
  actionRef: string;
}

const ACTION_URL_SHAPE = /^https?:\/\/[A-Za-z0-9.-]+(:\d+)?(\/[A-Za-z0-9._~-]+)+$/;
const ACTION_REF_SHAPE = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

/** The YAML text of .gitea/workflows/damascus-review.yml. Throws on a URL or ref that is not plain. */
export function renderReviewWorkflow(opts: ReviewWorkflowOptions): string {
  const actionUrl = opts.actionUrl.replace(/\/+$/, '');
  if (!ACTION_URL_SHAPE.test(actionUrl)) {
    throw new Error(`actionUrl must be an http(s) URL of the Action's repository without credentials, query or "@" (got ${JSON.stringify(opts.actionUrl)})`);
  }
  if (!ACTION_REF_SHAPE.test(opts.actionRef) || opts.actionRef.includes('..')) {
    throw new Error(`actionRef must be a tag, branch or full commit SHA (got ${JSON.stringify(opts.actionRef)})`);
  }
  return `# Written by \`damascus setup\`. Damascus dispatches this workflow to review a pull request head;
# the Action re-runs the test command there and posts a signed result back to the orchestrator.
# Inputs reach the Action only through \`with:\`, never through a shell script.
name: damascus-review

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

permissions:
  # Checkout reads the code; the damascus/review commit status needs code write.
  contents: write

jobs:
  review:
    runs-on: ubuntu-latest
    steps:
      - name: Check out the head under review
        uses: actions/checkout@v4
        with:
          ref: \${{ inputs.head-sha }}
          # The test command runs untrusted code: leave no job token in .git/config.
          persist-credentials: false
      - name: Run the tests and report to Damascus
        # The Action's repository must be readable anonymously: act_runner clones step actions without a token.
        uses: ${actionUrl}@${opts.actionRef}
        with:
          test-command: \${{ inputs.test-command }}
          work-item: \${{ inputs.work-item }}
          head-sha: \${{ inputs.head-sha }}
          orchestrator-url: \${{ inputs.orchestrator-url }}
          timeout-minutes: \${{ inputs.timeout-minutes }}
          token: \${{ secrets.DAMASCUS_CALLBACK_TOKEN }}
`;
}
