export function buildDashboard(options?: { force?: boolean }): Promise<{ built: boolean; ms: number }>;
