import type { ChildProcess } from "node:child_process";
import net from "node:net";

/** Ends a helper process the kit started and waits for it: SIGTERM, or `end` (e.g. closing its stdin). */
export async function stopChild(child: ChildProcess, end: () => void = () => child.kill("SIGTERM")): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  end();
  await exited;
}

/** A free TCP port on 127.0.0.1, for servers that cannot be told to pick one themselves (krb5kdc). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
