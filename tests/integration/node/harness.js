'use strict';
// Shared by the npm client tests: what every one of them needs to start a
// lockqd of its own.

const net = require('node:net');

// A TCP port free on 127.0.0.1 right now (bound, then released).
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

module.exports = { freePort };
