// socket.io-client 4.8 on the chat of a cluster, through a forwarder that stands for the
// load balancer: join as a new user, say "ready" in general once the whole greeting has
// come (its last event, `users`, carries the offset to recover from), and leave the rest
// to the test, which cuts the connection and sends the next one to another node. The
// client reconnects on its own, with its pid and last offset, as it would after any blip.
// Every connect and every event (with all its arguments, the offset included) is printed
// as a JSON line; the script exits once the message "after" has come.
//
//   node chat_recovery.mjs <url> <username>
import { io } from "socket.io-client";

const [url, username] = process.argv.slice(2);
const log = (line) => console.log(JSON.stringify(line));

const socket = io(url, {
  transports: ["websocket"],
  auth: { username },
  reconnectionDelay: 100,
  reconnectionDelayMax: 200,
});
let connects = 0;
socket.on("connect", () => {
  connects += 1;
  log({ connect: connects, id: socket.id, recovered: socket.recovered });
});
socket.on("disconnect", (reason) => log({ disconnect: reason }));
socket.onAny((event, ...args) => {
  log({ event, args });
  if (event === "users" && connects === 1) {
    socket.emit("message:channel:send", "general", "ready");
  } else if (event === "message:channel" && args[1].message === "after") {
    socket.disconnect();
    process.exit(0);
  }
});
setTimeout(() => {
  log({ deadline: true });
  process.exit(1);
}, 30000);
