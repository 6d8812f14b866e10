// verdaccio for the packaging tests, in a process of its own (tests block their event loop on
// npm commands): node verdaccio.cjs CONFIG prints the port it listens on (127.0.0.1), and stops
// when its standard input closes, that is when the test run that started it ends, however it ends.
const { runServer } = require('verdaccio');

runServer(process.argv[2]).then((server) => {
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
