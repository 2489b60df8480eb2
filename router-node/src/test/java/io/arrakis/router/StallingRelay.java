package io.arrakis.router;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;

/**
 * A TCP relay on loopback between clients and a server that can stop passing the server's bytes on:
 * what the server sees of a client process that stops reading its socket (a gRPC library takes
 * every message off the socket whether or not its caller reads them, so no real client stalls its
 * transport otherwise).
 */
final class StallingRelay implements AutoCloseable {
  private final ServerSocket listener;
  private final int target;
  private final List<Socket> sockets = new ArrayList<>();
  private final Object gate = new Object();
  private boolean stalled; // guarded by gate

  StallingRelay(int target) throws IOException {
    this.target = target;
    listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    daemon(this::accept);
  }

  int port() {
    return listener.getLocalPort();
  }

  /** From now on the server's bytes stay unread in its socket. */
  void stall() {
    synchronized (gate) {
      stalled = true;
    }
  }

  /** Passes the server's bytes on again. */
  void resume() {
    synchronized (gate) {
      stalled = false;
      gate.notifyAll();
    }
  }

  private void accept() {
    try {
      while (true) {
        Socket client = listener.accept();
        Socket server = new Socket(InetAddress.getLoopbackAddress(), target);
        synchronized (sockets) {
          sockets.add(client);
          sockets.add(server);
        }
        daemon(() -> pump(client, server, false));
        daemon(() -> pump(server, client, true));
      }
    } catch (IOException closed) {
      // the relay was closed
    }
  }

  private void pump(Socket from, Socket to, boolean stallable) {
    byte[] buf = new byte[8192];
    try (InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream()) {
      while (true) {
        if (stallable) {
          awaitFlowing();
        }
        int n = in.read(buf);
        if (n < 0) {
          return;
        }
        out.write(buf, 0, n);
        out.flush();
      }
    } catch (IOException | InterruptedException e) {
      // one side closed: the other goes with it
    } finally {
      closeQuietly(from);
      closeQuietly(to);
    }
  }

  private void awaitFlowing() throws InterruptedException {
    synchronized (gate) {
      while (stalled) {
        gate.wait();
      }
    }
  }

  private static void daemon(Runnable r) {
    Thread t = new Thread(r, "stalling-relay");
    t.setDaemon(true);
    t.start();
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // closing anyway
    }
  }

  @Override
  public void close() throws IOException {
    resume();
    listener.close();
    synchronized (sockets) {
      sockets.forEach(StallingRelay::closeQuietly);
    }
  }
}
