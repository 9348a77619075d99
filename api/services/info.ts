import { temporalWebUiUrl, type KeyrotorConfig } from '../../domain/config';
import type { Info } from '../schemas/system';

/** What GET /info tells: the deployment as configured (its nodes, its Temporal namespace and Web UI, its entropy floor). */
export class InfoService {
  constructor(private readonly config: KeyrotorConfig) {}

  describe(): Info {
    const { hsm, temporal, entropy } = this.config;
    return {
      nodes: hsm.nodes.map((node) => node.id),
      temporal: { namespace: temporal.namespace, webUiUrl: temporalWebUiUrl(this.config) },
      entropy: { minimumCreditedBits: entropy.minimumCreditedBits, harvestIntervalSeconds: entropy.harvestIntervalSeconds },
    };
  }
}
