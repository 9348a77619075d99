'use strict';
// A helper thread of the SP 800-90B assessment (see assessment-threads.ts). Loads the TypeScript sources through tsx,
// as bin/keyrotor.js does, so that it runs the same under tsx, jest and in production.
require('tsx/cjs');
require('./assessment-threads.ts').serveAssessmentJobs();
