/** How the operator configured the coding agent's sandbox (read by config/env.ts, applied by agent/sandbox.ts). */
export interface SandboxSettings {
  /** False only when the operator set DAMASCUS_SANDBOX=off. */
  enabled: boolean;
  /** The user the agent runs as when Damascus is root (DAMASCUS_AGENT_USER, default nobody 65534:65534). */
  agentUser: { uid: number; gid: number };
  /** Extra read-only paths the agent needs (its CLI's install directory, say): DAMASCUS_AGENT_READ. */
  readPaths: string[];
  /** Extra read-write paths the operator shares with every agent (a package cache, say): DAMASCUS_AGENT_WRITE. */
  writePaths: string[];
  /** `host:port` or URLs the agent may reach through the egress proxy: DAMASCUS_AGENT_ALLOW_HOSTS. */
  allowHosts: string[];
  /** Size of the agent's /tmp (a tmpfs), MiB. */
  tmpSizeMb: number;
  /** Processes of the agent's user, largest file it may write (MiB), open files; memory (MiB, address space) or null. */
  limits: { processes: number; fileSizeMb: number; openFiles: number; memoryMb: number | null };
}
