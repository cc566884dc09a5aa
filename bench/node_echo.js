// node_echo.js: a plain Node.js `net` echo server, a peer in the echo
// benchmarks (E1-E3).
//
//   node bench/node_echo.js PORT
//
// Listens on 127.0.0.1:PORT and writes back every chunk it reads. pipe()
// gives the usual backpressure: reading pauses while the socket's write
// queue is full. Runs until killed.
'use strict';

const net = require('net');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error('usage: node node_echo.js PORT');
  process.exit(2);
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  // A reset from a client that stops mid-run is normal in a benchmark.
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
});

server.on('error', (err) => {
  console.error(`node_echo: ${err.message}`);
  process.exit(1);
});

server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => {
  console.error(`node_echo: echo on 127.0.0.1:${port}`);
});
