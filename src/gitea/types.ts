/**
 * The subset of Gitea 1.26.3 API shapes Damascus reads or sends, transcribed from the swagger definitions
 * (`shared/gitea/swagger.v1.json`, `#/definitions/<Name>`). Go encodes nil pointers as `null`, which Swagger 2.0
 * cannot express: fields that Gitea sends as null are typed `| null`.
 */

/** #/definitions/User */
export interface User {
  id: number;
  login: string;
  login_name?: string;
  source_id?: number;
  full_name: string;
  email: string;
  avatar_url: string;
  html_url?: string;
  language?: string;
  is_admin: boolean;
  last_login?: string;
  created?: string;
  restricted?: boolean;
  active?: boolean;
  prohibit_login?: boolean;
  location?: string;
  website?: string;
  description?: string;
  visibility?: string;
  followers_count?: number;
  following_count?: number;
  starred_repos_count?: number;
}

/** #/definitions/Permission */
export interface Permission {
  admin: boolean;
  push: boolean;
  pull: boolean;
}

/** #/definitions/Repository (fields Damascus uses plus the common ones). */
export interface Repository {
  id: number;
  owner: User;
  name: string;
  full_name: string;
  description: string;
  empty: boolean;
  private: boolean;
  fork: boolean;
  html_url: string;
  url?: string;
  ssh_url: string;
  clone_url: string;
  default_branch: string;
  archived: boolean;
  has_issues?: boolean;
  has_wiki?: boolean;
  has_pull_requests?: boolean;
  has_actions?: boolean;
  permissions?: Permission;
  allow_merge_commits?: boolean;
  allow_rebase?: boolean;
  allow_squash_merge?: boolean;
  default_merge_style?: string;
  created_at?: string;
  updated_at?: string;
}

/** #/definitions/Label. `color` comes back without '#'. */
export interface Label {
  id: number;
  name: string;
  exclusive: boolean;
  is_archived: boolean;
  color: string;
  description: string;
  url: string;
}

/** #/definitions/PullRequestMeta (issue.pull_request for PRs). */
export interface PullRequestMeta {
  merged: boolean;
  merged_at: string | null;
  draft?: boolean;
  html_url?: string;
}

/** #/definitions/RepositoryMeta */
export interface RepositoryMeta {
  id: number;
  name: string;
  owner: string;
  full_name: string;
}

export type IssueState = 'open' | 'closed';

/** #/definitions/Issue (also returned for PRs by the issue endpoints). */
export interface Issue {
  id: number;
  url: string;
  html_url: string;
  number: number;
  user: User;
  original_author: string;
  original_author_id: number;
  title: string;
  body: string;
  ref: string;
  labels: Label[];
  milestone: unknown | null;
  assignee: User | null;
  assignees: User[] | null;
  state: IssueState;
  is_locked: boolean;
  comments: number;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  due_date: string | null;
  /** null for a plain issue. */
  pull_request: PullRequestMeta | null;
  repository: RepositoryMeta;
  pin_order?: number;
  content_version?: number;
}

/** #/definitions/Comment */
export interface Comment {
  id: number;
  html_url: string;
  pull_request_url: string;
  issue_url: string;
  user: User;
  original_author: string;
  original_author_id: number;
  body: string;
  created_at: string;
  updated_at: string;
}

/** #/definitions/PRBranchInfo */
export interface PRBranchInfo {
  label: string;
  ref: string;
  sha: string;
  repo_id: number;
  repo: Repository;
}

/** #/definitions/PullRequest */
export interface PullRequest {
  id: number;
  url: string;
  number: number;
  user: User;
  title: string;
  body: string;
  labels: Label[];
  state: IssueState;
  draft?: boolean;
  is_locked: boolean;
  html_url: string;
  diff_url: string;
  patch_url: string;
  mergeable: boolean;
  merged: boolean;
  merged_at: string | null;
  merge_commit_sha: string | null;
  merged_by: User | null;
  base: PRBranchInfo;
  head: PRBranchInfo;
  merge_base: string;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  content_version?: number;
}

/** #/definitions/FileLinksResponse */
export interface FileLinksResponse {
  self?: string;
  git?: string;
  html?: string;
}

/** #/definitions/ContentsResponse. `content` is base64 for files, null otherwise. */
export interface ContentsResponse {
  name: string;
  path: string;
  sha: string;
  last_commit_sha?: string;
  type: 'file' | 'dir' | 'symlink' | 'submodule';
  size: number;
  encoding: string | null;
  content: string | null;
  target?: string | null;
  url: string;
  html_url: string;
  git_url: string;
  download_url: string | null;
  submodule_git_url?: string | null;
  _links: FileLinksResponse;
}

/** What getContents gives back: a decoded file, or a directory listing. */
export type RepoContents =
  | { type: 'file'; path: string; sha: string; content: string }
  | { type: 'dir'; path: string; entries: ContentsResponse[] }
  | { type: 'symlink' | 'submodule'; path: string; sha: string };

export type CommitStatusState = 'pending' | 'success' | 'error' | 'failure' | 'warning' | 'skipped';

/** #/definitions/CreateStatusOption */
export interface CreateStatusOption {
  state: CommitStatusState;
  context: string;
  description?: string;
  target_url?: string;
}

/** #/definitions/CommitStatus */
export interface CommitStatus {
  id: number;
  status: CommitStatusState;
  target_url: string;
  description: string;
  url: string;
  context: string;
  creator: User;
  created_at: string;
  updated_at: string;
}

/** #/definitions/Hook */
export interface Hook {
  id: number;
  type: string;
  name?: string;
  branch_filter: string;
  config: Record<string, string>;
  events: string[];
  authorization_header: string;
  active: boolean;
  created_at: string;
  updated_at: string;
}

/** #/definitions/WikiCommit (partial) */
export interface WikiCommit {
  sha: string;
  message?: string;
}

/** #/definitions/WikiPageMetaData */
export interface WikiPageMetaData {
  title: string;
  html_url: string;
  sub_url: string;
  last_commit?: WikiCommit;
}

/** #/definitions/WikiPage. `content_base64` holds the page text. */
export interface WikiPage extends WikiPageMetaData {
  content_base64: string;
  commit_count: number;
  sidebar: string;
  footer: string;
}

/** #/definitions/ServerVersion */
export interface ServerVersion {
  version: string;
}

export type RepoPermission = 'none' | 'read' | 'write' | 'admin' | 'owner';

/** #/definitions/RepoCollaboratorPermission */
export interface RepoCollaboratorPermission {
  permission: RepoPermission;
  role_name: string;
  user: User;
}

/** #/definitions/PayloadCommit (partial) */
export interface PayloadCommit {
  id: string;
  message: string;
  url: string;
  timestamp?: string;
}

/** #/definitions/Branch */
export interface Branch {
  name: string;
  commit: PayloadCommit;
  protected: boolean;
  user_can_push: boolean;
  user_can_merge: boolean;
}

export type MergeStyle = 'merge' | 'squash' | 'rebase' | 'rebase-merge' | 'fast-forward-only';

/** #/definitions/MergePullRequestOption (the fields Damascus sends). */
export interface MergePullRequestOption {
  do: MergeStyle;
  head_commit_id?: string;
  merge_title_field?: string;
  merge_message_field?: string;
  delete_branch_after_merge?: boolean;
}

/** #/definitions/CreatePullRequestOption (subset) */
export interface CreatePullRequestOption {
  head: string;
  base: string;
  title: string;
  body?: string;
}

/** #/definitions/EditPullRequestOption (subset) */
export interface EditPullRequestOption {
  title?: string;
  body?: string;
  state?: IssueState;
}

/** #/definitions/EditIssueOption (subset) */
export interface EditIssueOption {
  title?: string;
  body?: string;
  state?: IssueState;
}

/** #/definitions/CreateLabelOption (subset) */
export interface CreateLabelOption {
  name: string;
  color: string;
  description?: string;
  exclusive?: boolean;
}

/** #/definitions/Identity */
export interface Identity {
  name?: string;
  email?: string;
}

/** #/definitions/CreateFileOptions (`content` is base64). */
export interface CreateFileOptions {
  content: string;
  message?: string;
  branch?: string;
  new_branch?: string;
  author?: Identity;
  committer?: Identity;
  signoff?: boolean;
}

/** #/definitions/UpdateFileOptions: `sha` is the blob SHA of the file being replaced. */
export interface UpdateFileOptions extends CreateFileOptions {
  sha?: string;
  from_path?: string;
}

/** #/definitions/FileCommitResponse (partial) */
export interface FileCommitResponse {
  sha: string;
  message?: string;
  html_url?: string;
  url?: string;
}

/** #/definitions/FileResponse (answer of POST/PUT /repos/{owner}/{repo}/contents/{filepath}). */
export interface FileResponse {
  content: ContentsResponse | null;
  commit: FileCommitResponse | null;
}

/** #/definitions/EditHookOption */
export interface EditHookOption {
  config?: Record<string, string>;
  events?: string[];
  active?: boolean;
  branch_filter?: string;
  authorization_header?: string;
  name?: string;
}

/** #/definitions/TimelineComment (the fields Damascus reads). A `label` entry's body is "1" when added, "" when removed. */
export interface TimelineComment {
  id: number;
  type: string;
  body: string;
  user: User | null;
  label: Label | null;
  created_at: string;
}

/** #/definitions/ActionRunnerLabel */
export interface ActionRunnerLabel {
  id: number;
  name: string;
  type: string;
}

/** #/definitions/ActionRunner. `status` is `online`, `offline`, `idle`, `active` (Gitea's runner status names). */
export interface ActionRunner {
  id: number;
  name: string;
  status: string;
  busy: boolean;
  disabled: boolean;
  ephemeral: boolean;
  labels: ActionRunnerLabel[];
}

/** #/definitions/ActionWorkflowRun (the fields Damascus reads). */
export interface ActionWorkflowRun {
  id: number;
  run_number: number;
  display_title: string;
  event: string;
  status: string;
  conclusion: string;
  head_branch: string;
  head_sha: string;
  path: string;
  html_url: string;
}

/** #/definitions/ActionWorkflow */
export interface ActionWorkflow {
  id: string;
  name: string;
  path: string;
  state: string;
}

/** #/definitions/RunDetails (answer of a dispatch with return_run_details=true, Gitea ≥ 1.26). */
export interface RunDetails {
  workflow_run_id: number;
  run_url: string;
  html_url: string;
}

/** #/definitions/OrganizationPermissions */
export interface OrganizationPermissions {
  is_owner: boolean;
  is_admin: boolean;
  can_write: boolean;
  can_read: boolean;
  can_create_repository: boolean;
}

/** #/definitions/CreateRepoOption (subset) */
export interface CreateRepoOption {
  name: string;
  description?: string;
  private?: boolean;
  auto_init?: boolean;
  default_branch?: string;
}

/** #/definitions/ChangeFileOperation: `content` is base64 (the client encodes it). */
export interface ChangeFileOperation {
  operation: 'create' | 'update' | 'delete';
  path: string;
  content?: string;
  sha?: string;
}

/** #/definitions/FilesResponse (partial) */
export interface FilesResponse {
  commit: FileCommitResponse | null;
}
