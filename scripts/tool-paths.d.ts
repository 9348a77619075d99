export const projectRoot: string;
export const toolsDir: string;
export const localTemporalCli: string;
export const localSchemathesisDir: string;
export const SCHEMATHESIS_REQUIREMENT: string;
export function findOnPath(name: string): string | undefined;
export function findTemporalCli(): { path: string; source: string } | undefined;
export function findSchemathesis(): { python: string; pythonPath: string; args: string[] } | undefined;
export function findSoftHsmModule(): string | undefined;
