export const projectRoot: string;
export const toolsDir: string;
export const localTemporalCli: string;
export const localTemporalTestServer: string;
export function findOnPath(name: string): string | undefined;
export function findTemporalCli(): { path: string; source: string } | undefined;
export function findTemporalTestServer(): { path: string; source: string } | undefined;
export function findSoftHsmModule(): string | undefined;
