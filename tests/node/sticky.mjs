// N socket.io-clients against a server of several worker processes: each connects, asks
// `whoami` (the serving worker's pid) and `echo` a few times, and reports its Engine.IO
// session id, the pids it was answered by, its transport at the end and any error.
//
//   node sticky.mjs <server url> <clients> <transports: polling | polling,websocket> <rounds>
import { io } from "socket.io-client";

const [url, clients = "4", transports = "polling", rounds = "5"] = process.argv.slice(2);

function run(index) {
  return new Promise((resolve) => {
    const report = { sid: null, pids: [], echoes: 0, transport: null, errors: [] };
    const socket = io(url, {
      transports: transports.split(","),
      reconnection: false,
      forceNew: true,
      timeout: 10000,
    });
    socket.on("connect_error", (error) => {
      report.errors.push(`connect_error: ${error.message}`);
      resolve(report);
    });
    socket.on("disconnect", (reason) => {
      if (reason !== "io client disconnect") report.errors.push(`disconnect: ${reason}`);
    });
    socket.on("connect", async () => {
      report.sid = socket.io.engine.id;
      try {
        for (let round = 0; round < Number(rounds); round += 1) {
          const who = await socket.timeout(10000).emitWithAck("whoami");
          report.pids.push(who.pid);
          // emitWithAck resolves with the ack's first argument: one array comes back whole.
          const echoed = await socket.timeout(10000).emitWithAck("echo", [index, round]);
          if (echoed[0] === index && echoed[1] === round) report.echoes += 1;
          await new Promise((done) => setTimeout(done, 50));
        }
      } catch (error) {
        report.errors.push(`ack: ${error.message}`);
      }
      report.transport = socket.io.engine.transport.name;
      socket.disconnect();
      resolve(report);
    });
  });
}

const reports = await Promise.all(Array.from({ length: Number(clients) }, (_, i) => run(i)));
console.log(JSON.stringify(reports));
process.exit(0);
