/** Every drill scenario, in the order `drill all` runs them (cheap faults first, the ZooKeeper outages last). */
export const SCENARIO_NAMES = [
  'replica-crash',
  'replica-hang',
  'replica-drain',
  'replica-slow',
  'metadata-db-down',
  'zk-leader-kill',
  'zk-quorum-loss',
  'zk-outage',
  'sidecar-crash',
  'zk-partition',
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export function isScenarioName(s: string): s is ScenarioName {
  return (SCENARIO_NAMES as readonly string[]).includes(s);
}
