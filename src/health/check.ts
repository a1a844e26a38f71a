/** One health probe. `run` resolves when healthy and throws a SidecarError (with a stable code) when not. */
export interface HealthCheck {
  readonly name: string;
  /** Advisory checks are reported (metrics, logs, /replicas) but never make the replica unhealthy. */
  readonly advisory?: boolean;
  run(signal: AbortSignal): Promise<void>;
  /** Releases connections; safe to call twice. */
  close(): Promise<void>;
}
