'use strict';
// The entropy tests' thread (see entropy-thread.ts). Loads the TypeScript sources through tsx, as bin/keyrotor.js does,
// so that it runs the same under tsx, jest and in production.
require('tsx/cjs');
require('./entropy-thread.ts').serveEntropyTest();
