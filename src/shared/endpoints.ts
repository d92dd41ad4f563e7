/** Damascus's own HTTP endpoints, named here because setup registers them in Gitea and the server serves them. */
export const WEBHOOK_PATH = '/api/gitea/webhooks';
export const REVIEW_RESULTS_PATH = '/api/v1/review-results';
