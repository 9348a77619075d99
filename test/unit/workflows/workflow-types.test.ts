import { WORKFLOW_TYPES } from '../../../domain/identifiers';
import * as workflows from '../../../workflows';

describe('workflow type names', () => {
  it('name exactly the workflows the bundle exports, so a client or schedule never starts a type no worker serves', () => {
    expect(Object.values(WORKFLOW_TYPES).sort()).toEqual(Object.keys(workflows).sort());
    for (const type of Object.values(WORKFLOW_TYPES)) expect(typeof workflows[type]).toBe('function');
  });
});
