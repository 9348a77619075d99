'use strict';
// The SP 800-90B assessment thread (see assessment-thread.ts). Loads the TypeScript sources through tsx, as
// bin/keyrotor.js does, so that it runs the same under tsx, jest and in production.
require('tsx/cjs');
require('./assessment-thread.ts').serveAssessment();
