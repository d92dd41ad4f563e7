-- 005_review_dispatch: a review result is bound to the dispatch Damascus issued (its nonce), and each nonce is
-- accepted once: a result replayed, or a second run of the same dispatch, cannot stand for another review.

ALTER TABLE ci_results ADD COLUMN dispatch_nonce TEXT;
CREATE UNIQUE INDEX ci_results_dispatch_nonce ON ci_results (dispatch_nonce) WHERE dispatch_nonce IS NOT NULL;
